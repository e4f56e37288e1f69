"""Run a recorded run again, in a fresh home, from its recorded data (checked
file by file against the recorded sha256) and config, and check that the new
model is the same, byte for byte (its fingerprint). Exits 0 when it is, 1 (with
what differs: code, lock, packages, data, model) when it is not. Refuses (exit
2, nothing written) when the code or lock differ from the recorded ones,
unless --allow-code-change, or when the data changed or is gone."""

import dataclasses
import os
import time
from typing import List

from pipeline import mlmd
from pipeline.config import REPO_ROOT, PipelineConfig
from runner import history, local
from runner.commands import arguments
from runner.errors import ProblemFound, UsageError

NAME = 'reproduce'
HELP = 'run a recorded run again and check the model is the same'
EXAMPLES = '''examples:
  python -m runner reproduce 2026-12-01T20:28
  python -m runner reproduce 2026-12-01T20:28 --home /data/taxi_home --into /tmp/again
'''
WRITES_HOME = True


def add_arguments(parser) -> None:
    parser.add_argument('run_id', metavar='RUN_ID', help='a run id or the start of one')
    arguments.add_home(parser, 'the home that holds the run')
    parser.add_argument('--into', help='a fresh home for the new run (default: '
                                       'HOME/reproductions/<time>)')
    parser.add_argument('--allow-code-change', action='store_true',
                        help='run even when the commit or lock differ from the recorded ones')


def recorded_config(record: mlmd.RunRecord, home: str) -> PipelineConfig:
    """The run's config as recorded, for a new home."""
    fields = {f.name for f in dataclasses.fields(PipelineConfig)}
    values = {k: v for k, v in record.config.items() if k in fields}
    values['beam_pipeline_args'] = tuple(values.get('beam_pipeline_args', ()))
    return PipelineConfig(**{**values, 'home': home})


def code_changes(record: mlmd.RunRecord, current) -> List[str]:
    """What differs between the recorded code and lock and the checkout's now."""
    found = []
    for key, what in ((mlmd.COMMIT, 'commit'), (mlmd.CODE_CHANGES, 'uncommitted changes'),
                      (mlmd.LOCK_SHA256, 'requirements.lock sha256')):
        recorded, now = record.recorded(key) or '', current.get(key) or ''
        if recorded != now:
            found.append(f'{what} {recorded or "none"} (recorded) != {now or "none"} (now)')
    return found


def data_problem(record: mlmd.RunRecord, config: PipelineConfig) -> str:
    """'' when the files the run will read are the recorded ones, byte for byte."""
    from pipeline.fingerprint import file_sha256
    from runner.spans import spans_in
    recorded = {f['path']: f for f in record.recorded(mlmd.DATA_FILES, [])}
    root = config.input_base
    for path, entry in sorted(recorded.items()):
        full = os.path.join(root, path)
        if not os.path.isfile(full):
            return f'{full} is gone: the run read it (sha256 {entry["sha256"][:12]})'
        if file_sha256(full) != entry['sha256']:
            return f'{full} changed since the run read it (sha256 {entry["sha256"][:12]} then)'
    span_dirs = {p.split(os.sep)[0] for p in recorded if p.startswith('span-')}
    if span_dirs and not config.staged_input and \
            f'span-{spans_in(root)[-1]}' not in span_dirs:
        return f'{root} has a newer span than the run read ({", ".join(sorted(span_dirs))})'
    return ''


def home_to_lock(args) -> str:
    return args.config.home


def check(args) -> None:
    from pipeline.manifest import code_version
    home = arguments.home_with_runs(args.home)
    config = PipelineConfig(home=home.root)
    record = history.find(history.load(config), args.run_id)
    if record.manifest is None:
        raise UsageError(f'run {record.run_id} has no manifest to reproduce it from')
    if record.config.get('storage_root') or not record.config.get('local_metadata', True):
        raise UsageError(f'run {record.run_id} ran in the cloud; reproduce runs local runs')
    if record.model_run and os.path.exists(os.path.join(record.model_run.uri, 'warm_start.json')):
        raise UsageError(f'run {record.run_id} warm-started from an earlier model, which a '
                         'fresh home does not have')
    into = os.path.abspath(args.into or os.path.join(home.reproductions_dir,
                                                      time.strftime('%Y%m%d-%H%M%S')))
    if os.path.exists(os.path.join(into, 'metadata.db')):
        raise UsageError(f'--into {into} holds runs already: give a fresh directory')
    arguments.home_for_writing(into)
    current = code_version(REPO_ROOT)
    changes = code_changes(record, current)
    if changes and not args.allow_code_change:
        raise UsageError('the code differs from the run\'s: ' + '; '.join(changes)
                         + ' (--allow-code-change to run anyway)')
    config = dataclasses.replace(recorded_config(record, into), code_version=current)
    problem = data_problem(record, config)
    if problem:
        raise UsageError(f'cannot reproduce run {record.run_id}: {problem}')
    args.record, args.config = record, config


def differences(recorded: mlmd.RunRecord, new: mlmd.RunRecord) -> List[str]:
    pairs = [('code commit', recorded.commit, new.commit),
             ('uncommitted changes', recorded.recorded(mlmd.CODE_CHANGES),
              new.recorded(mlmd.CODE_CHANGES)),
             ('lock sha256', recorded.recorded(mlmd.LOCK_SHA256),
              new.recorded(mlmd.LOCK_SHA256)),
             ('packages', recorded.recorded(mlmd.PACKAGE_VERSIONS),
              new.recorded(mlmd.PACKAGE_VERSIONS)),
             ('data fingerprint', recorded.data_fingerprint, new.data_fingerprint),
             ('model fingerprint', recorded.model_fingerprint, new.model_fingerprint)]
    return [f'{what}: {a} (recorded) != {b} (new)' for what, a, b in pairs if a != b]


def run(args) -> int:
    record = args.record
    print(f'Reproducing run {record.run_id} in {args.config.home}', flush=True)
    new = local.run_visibly(args.config, args.log_path, args.working_on)
    found = differences(record, new)
    if not any(line.startswith('model fingerprint') for line in found):
        print(f'Reproduced: run {new.run_id} trained the same model '
              f'(fingerprint {record.model_fingerprint}).')
        return 0
    for line in found:
        print(f'  {line}')
    raise ProblemFound(f'run {new.run_id} trained a different model than run {record.run_id}')
