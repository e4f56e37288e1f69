"""Rollback: an earlier blessed model served again, as a new, higher version
(the pipeline that pushes it: pipeline/rollback_pipeline.py). Planned first,
with nothing written, so that a refusal leaves no trace."""

import dataclasses
import os
from typing import Optional, Sequence

from common.exit_status import UsageError
from operations import execution, run_history
from pipeline import mlmd
from pipeline.config import PipelineConfig
from pipeline.fingerprint import directory_fingerprint


@dataclasses.dataclass(frozen=True)
class Rollback:
    """What a rollback will push: the model of `version`, trained by `origin`."""

    version: int
    origin: mlmd.RunRecord


def default_target(runs: Sequence[mlmd.RunRecord], serving: int) -> int:
    """The version pushed before the one serving now, skipping any that holds the
    model serving now."""
    current = run_history.trained_by(runs, serving)
    earlier = sorted({int(r.pushed_version) for r in runs if r.pushed_version is not None
                      and int(r.pushed_version) < serving}, reverse=True)
    for version in earlier:
        origin = run_history.trained_by(runs, version)
        if origin is not None and (current is None
                                   or origin.model_fingerprint != current.model_fingerprint):
            return version
    raise UsageError(f'no earlier pushed version to roll back to from version {serving}')


def checked_origin(config: PipelineConfig, runs: Sequence[mlmd.RunRecord], version: int,
                   serving: int) -> mlmd.RunRecord:
    """The training run whose model `version` holds, once it is safe to push again:
    blessed, its files on disk as recorded, not the model serving now."""
    if mlmd.pushed_run(runs, version) is None:
        raise UsageError(f'version {version} was never pushed by a blessed run: '
                         '`python -m runner runs` lists the pushed versions')
    origin = run_history.trained_by(runs, version)
    if origin is None or origin.blessed is not True or origin.model is None:
        raise UsageError(f'version {version} holds no model the Evaluator blessed')
    current = run_history.trained_by(runs, serving)
    if current is not None and current.model_fingerprint == origin.model_fingerprint:
        raise UsageError(f'version {serving}, serving now, already holds the model of '
                         f'version {version}')
    source = run_history.model_dir(origin)
    if source is None:
        raise UsageError(f'the model of version {version} is gone from {origin.model.uri}')
    for directory in (source, os.path.join(config.serving_model_dir, str(version))):
        if os.path.isdir(directory) and \
                directory_fingerprint(directory) != origin.model_fingerprint:
            recorded = (origin.model_fingerprint or '')[:12]
            raise UsageError(f'the files in {directory} no longer match the fingerprint '
                             f'recorded for version {version} ({recorded})')
    return origin


def plan(config: PipelineConfig, target: Optional[int]) -> Rollback:
    """The version to put back and the run that trained its model; UsageError, with
    nothing written, when there is nothing safe to roll back to."""
    runs = run_history.load(config)
    serving = run_history.serving_now(config, runs)
    if serving is None:
        raise UsageError(f'no version is served from {config.serving_model_dir}: '
                         'nothing to roll back')
    version = target if target is not None else default_target(runs, serving)
    return Rollback(version, checked_origin(config, runs, version, serving))


def roll_back(config: PipelineConfig, rollback: Rollback, lock: execution.RunLock,
              progress: execution.Progress) -> mlmd.RunRecord:
    """Pushes the planned model again as a new version; returns the rollback's run record."""
    from pipeline.rollback_pipeline import create_rollback_pipeline  # TFX: seconds to import
    origin = rollback.origin
    assert origin.model is not None and origin.blessing is not None   # checked by plan()
    run_id = execution.new_run_id()
    execution.run_tracked(create_rollback_pipeline(config, origin.model.uri, origin.blessing.uri,
                                                   rollback.version),
                          run_id, config.store, lock, progress)
    return mlmd.find_run(run_history.load(config), run_id)
