"""Where a model came from: from a pushed version (or a run) to the run that
trained it, its data files and their fingerprint, the code commit, the lock's
hash and package versions, the config, the schema, the evaluation, the canary,
and whether it serves now. A rolled-back version leads to the run that trained
the model it put back."""

import os
from typing import List, Optional

from pipeline import mlmd
from pipeline.config import PipelineConfig
from runner import history
from runner.commands import arguments
from runner.errors import UsageError

NAME = 'lineage'
HELP = 'from a pushed version or a run to its data, code, config and evaluation'
EXAMPLES = '''examples:
  python -m runner lineage --version 1796156947
  python -m runner lineage --run 2026-12-01T20:28
'''
WRITES_HOME = False


def add_arguments(parser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument('--version', type=int, help='a version under serving_model/')
    which.add_argument('--run', help='a run id (or the start of one, as `runner runs` lists)')
    arguments.add_home(parser)


def check(args) -> None:
    arguments.home_with_runs(args.home)


def _push_lines(runs, version: int, serving: Optional[int]) -> List[str]:
    record = mlmd.pushed_run(runs, version)
    if record is None:
        raise UsageError(f'no run pushed version {version}: `python -m runner runs` lists '
                         'the pushed versions')
    now = ' (serving now)' if version == serving else ''
    lines = [f'Version {version}{now}: pushed by run {record.run_id} to '
             f'{record.pushed_model.get(mlmd.PUSHED_DESTINATION)}']
    target = record.pushed_model.get(mlmd.ROLLED_BACK_TO)
    if target is not None:
        lines.append(f'  a rollback: the model of version {target}')
    return lines


def _run_lines(record: mlmd.RunRecord, runs, serving: Optional[int]) -> List[str]:
    lines = [f'Run {record.run_id}: {history.state(record)}, started {history.when(record.start)}, '
             f'{record.end - record.start:.1f} s']
    if record.manifest is None:
        return lines + ['  (no manifest recorded: a run from before manifests, or one that '
                        'stopped before its data was read)']
    config = record.config
    files = record.recorded(mlmd.DATA_FILES, [])
    lines.append(f"  data       {config.get('data_root')}, span {record.span}: "
                 f'{len(files)} files, fingerprint {record.data_fingerprint}')
    lines += [f"             {f['path']}  {f['bytes']} bytes  sha256 {f['sha256']}"
              + (f"  (links to {f['source']})" if 'source' in f else '') for f in files]
    dirty = ' with uncommitted changes ' + history.short(record.recorded(mlmd.CODE_CHANGES)) \
        if record.recorded(mlmd.DIRTY) else ''
    image = record.recorded(mlmd.IMAGE)
    lines.append(f'  code       commit {record.commit}{dirty}' + (f', image {image}' if image else ''))
    lines.append(f'  lock       requirements.lock sha256 {record.recorded(mlmd.LOCK_SHA256)}')
    packages = record.recorded(mlmd.PACKAGE_VERSIONS, {})
    lines.append('  packages   ' + ', '.join(f'{k} {v}' for k, v in sorted(packages.items())))
    lines.append(f"  config     min_auc {config.get('min_auc')}, max_auc_drop "
                 f"{config.get('max_auc_drop')}, data {config.get('data_root')}")
    lines.append(f'  hyperparams {history.hyperparameters(record)} '
                 f'({history.hyperparameter_source(record, runs)})')
    lines.append(f"  schema     {config.get('schema_file')} sha256 "
                 f'{record.recorded(mlmd.SCHEMA_SHA256)}')
    if record.model is not None:
        lines.append(f'  model      {record.model.uri} fingerprint {record.model_fingerprint}')
    if record.evaluation is not None:
        metrics = record.metrics
        verdict = {True: 'blessed', False: 'not blessed', None: 'no blessing'}[record.blessed]
        lines.append(f"  evaluation AUC {metrics.get('auc', float('nan')):.4f}, accuracy "
                     f"{metrics.get('binary_accuracy', float('nan')):.4f}: {verdict}")
    if record.infra_blessing is not None:
        reason = record.infra_blessing.get(mlmd.INFRA_REASON)
        lines.append('  canary     ' + ('passed' if record.infra_blessed else f'failed: {reason}'))
    if record.pushed:
        now = ', serving now' if record.pushed_version == str(serving) else ''
        lines.append(f'  pushed     version {record.pushed_version}{now}')
    return lines


def run(args) -> int:
    config = PipelineConfig(home=os.path.abspath(args.home))
    runs = history.load(config)
    serving = history.serving_now(config)
    if args.version is not None:
        lines = _push_lines(runs, args.version, serving)
        record = history.trained_by(runs, args.version)
        if record is None:
            raise UsageError(f'version {args.version} leads to no training run in '
                             f'{config.metadata_path}')
    else:
        lines, record = [], history.find(runs, args.run)
    print('\n'.join(lines + _run_lines(record, runs, serving)))
    return 0
