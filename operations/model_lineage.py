"""Where a model came from: from a pushed version (or a run) to the run that
trained it, its data files and their fingerprint, the code commit, the lock's
hash and package versions, the config, the schema, the evaluation, the canary,
and whether it serves now. A rolled-back version leads to the run that trained
the model it put back."""

from typing import List, Optional, Sequence

from common.exit_status import UsageError
from operations import run_history
from pipeline import mlmd
from pipeline.config import PipelineConfig


def _push_lines(runs: Sequence[mlmd.RunRecord], version: int, serving: Optional[int]) -> List[str]:
    record = mlmd.pushed_run(runs, version)
    if record is None:
        raise UsageError(f'no run pushed version {version}: `python -m runner runs` lists '
                         'the pushed versions')
    now = ' (serving now)' if version == serving else ''
    lines = [f'Version {version}{now}: pushed by run {record.run_id} to '
             f'{record.pushed_destination}']
    target = record.rolled_back_to
    if target is not None:
        lines.append(f'  a rollback: the model of version {target}')
    return lines


def _run_lines(record: mlmd.RunRecord, runs: Sequence[mlmd.RunRecord],
               serving: Optional[int]) -> List[str]:
    lines = [f'Run {record.run_id}: {run_history.state(record)}, started '
             f'{run_history.when(record.start)}, {record.end - record.start:.1f} s']
    if record.manifest is None:
        return lines + ['  (no manifest recorded: a run from before manifests, or one that '
                        'stopped before its data was read)']
    config = record.config
    files = record.recorded(mlmd.DATA_FILES, [])
    lines.append(f"  data       {config.get('data_root')}, span {record.span}: "
                 f'{len(files)} files, fingerprint {record.data_fingerprint}')
    lines += [f"             {f['path']}  {f['bytes']} bytes  sha256 {f['sha256']}"
              + (f"  (links to {f['source']})" if 'source' in f else '') for f in files]
    dirty = ' with uncommitted changes ' + run_history.short(record.recorded(mlmd.CODE_CHANGES)) \
        if record.recorded(mlmd.DIRTY) else ''
    image = record.recorded(mlmd.IMAGE)
    lines.append(f'  code       commit {record.commit}{dirty}'
                 + (f', image {image}' if image else ''))
    lines.append(f'  lock       requirements.lock sha256 {record.recorded(mlmd.LOCK_SHA256)}')
    packages = record.recorded(mlmd.PACKAGE_VERSIONS, {})
    lines.append('  packages   ' + ', '.join(f'{k} {v}' for k, v in sorted(packages.items())))
    lines.append(f"  config     min_auc {config.get('min_auc')}, max_auc_drop "
                 f"{config.get('max_auc_drop')}, data {config.get('data_root')}")
    lines.append(f'  hyperparams {run_history.hyperparameters(record)} '
                 f'({run_history.hyperparameter_source(record, runs)})')
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
        reason = record.canary_failure
        lines.append('  canary     ' + ('passed' if record.infra_blessed else f'failed: {reason}'))
    if record.pushed:
        now = ', serving now' if record.pushed_version == str(serving) else ''
        lines.append(f'  pushed     version {record.pushed_version}{now}')
    return lines


def lineage(config: PipelineConfig, version: Optional[int] = None,
            run_id: Optional[str] = None) -> List[str]:
    """The lineage of a pushed version, or of a run, as lines for people."""
    runs = run_history.load(config)
    serving = run_history.serving_now(config, runs)
    if version is not None:
        lines = _push_lines(runs, version, serving)
        record = run_history.trained_by(runs, version)
        if record is None:
            raise UsageError(f'version {version} leads to no training run in '
                             f'{config.store}')
    else:
        lines, record = [], run_history.find(runs, run_id or '')
    return lines + _run_lines(record, runs, serving)
