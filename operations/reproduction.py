"""A recorded run again, in a fresh home, from its recorded data (checked file by
file against the recorded sha256), config and staged schema, and whether the
new model is the same, byte for byte (its fingerprint). Planned first, with
nothing written: refused when the code or lock differ from the recorded ones
(unless allowed), or when the data changed or is gone."""

import dataclasses
import os
from typing import Any, Dict, List, Optional

from common.exit_status import UsageError
from common.tf_serving import is_url
from operations import execution, run_history, training_run
from pipeline import mlmd
from pipeline.config import REPO_ROOT, PipelineConfig


@dataclasses.dataclass(frozen=True)
class Reproduction:
    """The run to reproduce, and its config and staged input for the new home."""

    record: mlmd.RunRecord
    config: PipelineConfig
    staged_input: Optional[str]


@dataclasses.dataclass(frozen=True)
class Reproduced:
    """The new run, and what differs from the recorded one."""

    run: training_run.TrainingRun
    differences: List[str]

    @property
    def same_model(self) -> bool:
        return not any(line.startswith('model fingerprint') for line in self.differences)


def _recorded_setup(record: mlmd.RunRecord) -> Dict[str, Any]:
    """The run's RunSetup as recorded; runs from before it was recorded apart kept
    its fields (the staged schema and input) in their config."""
    return record.recorded(mlmd.SETUP) or record.config


# Where a run recorded into and put its artifacts: a reproduction has its own home.
_NOT_REPRODUCED = ('metadata', 'storage_root')


def recorded_config(record: mlmd.RunRecord, home: str) -> PipelineConfig:
    """The run's config as recorded, for a new home (its own ML Metadata, artifacts
    and pushed models, whatever store and pipeline root the run had), on the
    schema as it was staged."""
    fields = {f.name for f in dataclasses.fields(PipelineConfig)} - set(_NOT_REPRODUCED)
    values = {k: v for k, v in record.config.items() if k in fields}
    values['beam_pipeline_args'] = tuple(values.get('beam_pipeline_args', ()))
    schema = _recorded_setup(record).get('schema_file')
    if schema:
        values['schema_file'] = schema
    return PipelineConfig(**{**values, 'home': home})


def code_changes(record: mlmd.RunRecord, current: Dict[str, Any]) -> List[str]:
    """What differs between the recorded code and lock and the checkout's now."""
    found = []
    for key, what in ((mlmd.COMMIT, 'commit'), (mlmd.CODE_CHANGES, 'uncommitted changes'),
                      (mlmd.LOCK_SHA256, 'requirements.lock sha256')):
        recorded, now = record.recorded(key) or '', current.get(key) or ''
        if recorded != now:
            found.append(f'{what} {recorded or "none"} (recorded) != {now or "none"} (now)')
    return found


def data_problem(record: mlmd.RunRecord, config: PipelineConfig,
                 staged_input: Optional[str] = None) -> str:
    """'' when the files the run will read are the recorded ones, byte for byte."""
    from operations.spans import spans_in
    from pipeline.fingerprint import file_sha256
    recorded = {f['path']: f for f in record.recorded(mlmd.DATA_FILES, [])}
    root = staged_input or config.data_root
    for path, entry in sorted(recorded.items()):
        full = os.path.join(root, path)
        if not os.path.isfile(full):
            return f'{full} is gone: the run read it (sha256 {entry["sha256"][:12]})'
        if file_sha256(full) != entry['sha256']:
            return f'{full} changed since the run read it (sha256 {entry["sha256"][:12]} then)'
    span_dirs = {p.split(os.sep)[0] for p in recorded if p.startswith('span-')}
    if span_dirs and not staged_input and f'span-{spans_in(root)[-1]}' not in span_dirs:
        return f'{root} has a newer span than the run read ({", ".join(sorted(span_dirs))})'
    return ''


def plan(config: PipelineConfig, run_id: str, into: str,
         allow_code_change: bool) -> Reproduction:
    """The reproduction of run_id (of the home config names) into the fresh home
    `into`; UsageError, with nothing written, when it cannot be reproduced."""
    from pipeline.manifest import code_version
    record = run_history.find(run_history.load(config), run_id)
    if record.manifest is None:
        raise UsageError(f'run {record.run_id} has no manifest to reproduce it from')
    if is_url(record.config.get('storage_root') or '') or \
            not record.config.get('local_metadata', True):
        raise UsageError(f'run {record.run_id} ran in the cloud; reproduce runs local runs')
    if record.model_run and os.path.exists(os.path.join(record.model_run.uri, 'warm_start.json')):
        raise UsageError(f'run {record.run_id} warm-started from an earlier model, which a '
                         'fresh home does not have')
    changes = code_changes(record, code_version(REPO_ROOT))
    if changes and not allow_code_change:
        raise UsageError('the code differs from the run\'s: ' + '; '.join(changes)
                         + ' (--allow-code-change to run anyway)')
    new_config = recorded_config(record, into)
    staged_input = _recorded_setup(record).get('staged_input')
    problem = data_problem(record, new_config, staged_input)
    if problem:
        raise UsageError(f'cannot reproduce run {record.run_id}: {problem}')
    return Reproduction(record, new_config, staged_input)


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


def reproduce(reproduction: Reproduction, lock: execution.RunLock,
              progress: execution.Progress) -> Reproduced:
    """Runs the planned reproduction; what differs from the recorded run."""
    config = reproduction.config
    try:
        run = training_run.train(config, lock, progress,
                                 staged_input=reproduction.staged_input)
    except execution.RunStopped as stop:     # its home is not for another run
        raise execution.RunStopped(stop.signum, stop.where, 'a new `runner reproduce` starts '
                                   'afresh in a new home') from stop
    return Reproduced(run, differences(reproduction.record, run.record))
