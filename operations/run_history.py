"""The run history as people read it: which version serves now, which run made a
version (through rollbacks), short forms of commits and fingerprints, the rows
of `runner runs`. Reads ML Metadata through pipeline.mlmd only; loads neither
TFX nor TensorFlow."""

import dataclasses
import datetime
import os
from typing import Any, Dict, List, Optional, Sequence

from common.exit_status import UsageError
from common.tf_serving import is_url, newest_version
from models.hparams import DEFAULT_HPARAMS, changed
from pipeline import component_ids as ids
from pipeline import mlmd
from pipeline.config import PipelineConfig


def load(config: PipelineConfig) -> List[mlmd.RunRecord]:
    """Training and rollback runs of the home, newest first."""
    names = (config.pipeline_name, config.pipeline_name + ids.ROLLBACK_SUFFIX)
    return [r for r in mlmd.load_runs(mlmd.connect(config.store)) if r.pipeline in names]


def serving_dir(config: PipelineConfig, runs: Sequence[mlmd.RunRecord] = ()) -> str:
    """Where the pushed versions are: under the pipeline root (the home, unless one
    is given); on a shared store read without one, where its newest push went."""
    if config.metadata is None or config.storage_root:
        return config.serving_model_dir
    pushed = mlmd.pushed_run(runs)
    destination = pushed.pushed_destination if pushed is not None else None
    return os.path.dirname(destination) if destination else config.serving_model_dir


def serving_now(config: PipelineConfig, runs: Sequence[mlmd.RunRecord] = ()) -> Optional[int]:
    """The version a model server serves now: the newest complete one."""
    return newest_version(serving_dir(config, runs))


def is_rollback(record: mlmd.RunRecord) -> bool:
    return record.pipeline.endswith(ids.ROLLBACK_SUFFIX)


def trained_by(runs: Sequence[mlmd.RunRecord], version: int) -> Optional[mlmd.RunRecord]:
    """The training run whose model `version` holds, following rollbacks back."""
    seen = set()
    while version not in seen:
        seen.add(version)
        record = mlmd.pushed_run(runs, version)
        if record is None:
            return None
        target = record.rolled_back_to
        if target is None:
            return record
        version = int(target)
    return None


def find(runs: Sequence[mlmd.RunRecord], run_id: str) -> mlmd.RunRecord:
    try:
        return mlmd.find_run(runs, run_id)
    except LookupError as error:
        raise UsageError(str(error)) from None


def short(value: Optional[str], length: int = 8) -> str:
    return value[:length] if value else '-'


def code(record: mlmd.RunRecord) -> str:
    """Short commit, `*` when the checkout had uncommitted changes."""
    commit = record.commit
    return 'unknown' if commit == mlmd.UNKNOWN else \
        short(commit, 7) + ('*' if record.recorded(mlmd.DIRTY) else '')


def who(record: mlmd.RunRecord) -> str:
    """user@host that started the run; '-' for runs from before it was recorded."""
    return f'{record.user}@{record.host}' if record.user else '-'


def when(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds).strftime('%Y-%m-%d %H:%M:%S')


@dataclasses.dataclass(frozen=True)
class Activity:
    """What a home's lock tells of its runs (runner/home_lock.py): the run a live
    process works on, and the last run that failed, with its cause, which ML
    Metadata may not hold (a full disk)."""

    live_run: Optional[str] = None
    failed_run: Optional[str] = None
    failure: Optional[str] = None


def state(record: mlmd.RunRecord, activity: Activity = Activity()) -> str:
    """How a run ended, for people. A run whose executions are still RUNNING with no
    live process working on it failed where the store could not record it (the
    lock says so), or its process was killed: abandoned."""
    if is_rollback(record) and record.pushed:
        return f"rollback to {record.rolled_back_to}"
    if record.state.startswith('running at ') and record.run_id != activity.live_run:
        where = record.state[len('running at '):]
        failed = record.run_id == activity.failed_run
        return f'failed at {where}' if failed else f'abandoned at {where}'
    return record.state


def took(record: mlmd.RunRecord, activity: Activity = Activity()) -> float:
    """Seconds from the run's start to its last known moment. For an abandoned run
    that is when its last component started (its process is gone: no later moment
    is known), the same before and after a later run records it abandoned (ML
    Metadata's update time of that component is then when the later run did so)."""
    if not state(record, activity).startswith('abandoned at '):
        return record.end - record.start
    ends = [component.start if component.state in ('RUNNING', 'NEW')
            or component.ended == mlmd.ABANDONED else component.end
            for component in record.components.values()]
    return max(ends) - record.start


def hyperparameters(record: mlmd.RunRecord) -> Dict[str, Any]:
    """What the Trainer trained with (as it recorded; else the defaults, the run's
    overrides and its steps)."""
    steps = record.config.get('train_steps', PipelineConfig.train_steps)
    return record.trained_with or {**DEFAULT_HPARAMS, **record.hparams, 'train_steps': steps}


def hyperparameter_changes(record: mlmd.RunRecord) -> Dict[str, Any]:
    """The hyperparameters (train steps included) that differ from the defaults."""
    used = hyperparameters(record)
    found = changed({k: v for k, v in used.items() if k != 'train_steps'})
    if used.get('train_steps', PipelineConfig.train_steps) != PipelineConfig.train_steps:
        found['train_steps'] = used['train_steps']
    return found


def hyperparameter_source(record: mlmd.RunRecord, runs: Sequence[mlmd.RunRecord]) -> str:
    """Where the Trainer's hyperparameters came from: a Tuner run, or the defaults."""
    tuned = record.input(ids.TRAINER, 'hyperparameters')
    if tuned is None:
        return 'defaults' if record.model is not None else '-'
    maker = mlmd.producer(runs, tuned.id)
    if maker is None:
        return 'a Tuner run'
    return 'tuned in this run' if maker.run_id == record.run_id else f'tuner run {maker.run_id}'


def summary(record: mlmd.RunRecord, runs: Sequence[mlmd.RunRecord], serving: Optional[int],
            activity: Activity = Activity()) -> Dict[str, Any]:
    """One run as `runner runs --json` gives it."""
    return {
        'run_id': record.run_id, 'pipeline': record.pipeline,
        'start': datetime.datetime.fromtimestamp(record.start).isoformat(),
        'end': datetime.datetime.fromtimestamp(record.end).isoformat(),
        'seconds': round(took(record, activity), 1),
        'state': state(record, activity), 'failed_component': record.failed_component,
        'failure_cause': record.failure_cause or (
            activity.failure if record.run_id == activity.failed_run else None),
        'user': record.user, 'host': record.host,
        'commit': record.commit, 'dirty': bool(record.recorded(mlmd.DIRTY)),
        'lock_sha256': record.recorded(mlmd.LOCK_SHA256),
        'data_fingerprint': record.data_fingerprint, 'span': record.span,
        'hparams': hyperparameters(record) if record.manifest else {},
        'hparams_source': hyperparameter_source(record, runs), 'auc': record.auc,
        'blessed': record.blessed,
        'canary': record.infra_blessed, 'pushed_version': record.pushed_version,
        'rolled_back_to': record.rolled_back_to,
        'serving': record.pushed_version is not None and record.pushed_version == str(serving),
        'model_fingerprint': record.model_fingerprint,
    }


def row(record: mlmd.RunRecord, serving: Optional[int],
        activity: Activity = Activity()) -> List[str]:
    """One run as a line of `runner runs`."""
    hparams = hyperparameter_changes(record)
    data = f'span {record.span} {short(record.data_fingerprint)}' \
        if record.examples is not None else '-'
    pushed = record.pushed_version or '-'
    if record.pushed_version is not None and record.pushed_version == str(serving):
        pushed += ' (serving)'
    return [record.run_id, when(record.start), f'{took(record, activity):.1f} s',
            state(record, activity), who(record),
            data, code(record) if record.manifest else '-',
            ','.join(f'{k}={_brief(v)}' for k, v in hparams.items()) or '-',
            f'{record.auc:.4f}' if record.auc is not None else '-',
            {True: 'yes', False: 'no', None: '-'}[record.blessed], pushed]


def _brief(value: Any) -> str:
    """A hyperparameter's value for a table cell: 4 figures, lists without spaces."""
    if isinstance(value, float):
        return f'{value:.4g}'
    if isinstance(value, (list, tuple)):
        return '/'.join(str(v) for v in value)
    return str(value)


class ArtifactsUnreadable(UsageError):
    """ML Metadata points at artifacts this machine cannot read."""


def stored(artifact: mlmd.Artifact) -> str:
    """Where an artifact's files are, once they can be read from here (gs:// is read
    through TensorFlow); ArtifactsUnreadable naming the path else: a run recorded
    into a shared store from someone's private home, or moved since."""
    path = artifact.uri
    if is_url(path) or os.access(path, os.R_OK | os.X_OK):
        return path
    reason = 'no such directory' if not os.path.exists(path) else 'permission denied'
    raise ArtifactsUnreadable(
        f'ML Metadata points at {path} ({artifact.type} {artifact.id}), which cannot be read '
        f'here ({reason}): runs on a shared store need a --pipeline-root the whole team can '
        'read')


def model_dir(record: mlmd.RunRecord) -> Optional[str]:
    """The SavedModel directory of a run's model, if it is still on disk."""
    if record.model is None:
        return None
    path = os.path.join(record.model.uri, 'Format-Serving')
    return path if os.path.isdir(path) else None


HEADER = ['RUN', 'START', 'TOOK', 'STATE', 'BY', 'DATA', 'CODE', 'HPARAMS', 'AUC', 'BLESSED',
          'PUSHED']


@dataclasses.dataclass(frozen=True)
class Listing:
    """Runs of a home, newest first, as `runner runs` shows them."""

    summaries: List[Dict[str, Any]]     # one JSON object per run (`--json`)
    rows: List[List[str]]               # one table row per run

    @property
    def table(self) -> str:
        rows = [HEADER] + self.rows
        widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
        return '\n'.join('  '.join(cell.ljust(width) for cell, width in zip(r, widths, strict=True))
                         .rstrip() for r in rows)


def listing(config: PipelineConfig, limit: Optional[int] = None,
            activity: Activity = Activity(), user: Optional[str] = None) -> Listing:
    """The newest `limit` runs (all without one; of one user, if named), in the light
    of the lock's record."""
    everything = load(config)
    runs = [r for r in everything if user is None or r.user == user][:limit]
    serving = serving_now(config, everything)
    return Listing([summary(r, everything, serving, activity) for r in runs],
                   [row(r, serving, activity) for r in runs])
