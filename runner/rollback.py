"""Rollback: an earlier blessed model pushed again, as a new, higher version.

TF Serving (and our server) serve the newest version under the model's base
path, so a rollback that writes the earlier model's files under a new number
switches every server with no config change and no restart. It runs as a
pipeline of its own (<pipeline>-rollback, same ML Metadata): Importers bring in
the earlier run's Model and ModelBlessing (the same artifacts, so lineage
stays whole) and this project's Pusher pushes them, recording the version
rolled back to (mlmd.ROLLED_BACK_TO).
"""

import os
from typing import Optional, Sequence, Tuple

from pipeline import mlmd
from pipeline.config import PipelineConfig
from pipeline.fingerprint import directory_fingerprint
from runner import history, local
from runner.errors import UsageError


def create_rollback_pipeline(config: PipelineConfig, origin: mlmd.RunRecord, version: int):
    from tfx.dsl.components.common.importer import Importer
    from tfx.orchestration import metadata
    from tfx.orchestration import pipeline as tfx_pipeline
    from tfx.proto import pusher_pb2
    from tfx.types.standard_artifacts import Model, ModelBlessing

    from pipeline.pusher import Pusher

    model = Importer(source_uri=origin.model.uri, artifact_type=Model).with_id('rollback_model')
    blessing = Importer(source_uri=origin.blessing.uri,
                        artifact_type=ModelBlessing).with_id('rollback_blessing')
    pusher = Pusher(
        model=model.outputs['result'], model_blessing=blessing.outputs['result'],
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(
                base_directory=config.serving_model_dir)),
        custom_config={mlmd.ROLLED_BACK_TO: str(version)})
    name = config.pipeline_name + history.ROLLBACK_SUFFIX
    return tfx_pipeline.Pipeline(
        pipeline_name=name, pipeline_root=config.paths.pipeline_root(name),
        components=[model, blessing, pusher], enable_cache=False,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(
            config.metadata_path))


def default_target(runs: Sequence[mlmd.RunRecord], serving: int) -> int:
    """The version pushed before the one serving now, skipping any that holds the
    model serving now."""
    current = history.trained_by(runs, serving)
    earlier = sorted({int(r.pushed_version) for r in runs if r.pushed
                      and int(r.pushed_version) < serving}, reverse=True)
    for version in earlier:
        origin = history.trained_by(runs, version)
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
    origin = history.trained_by(runs, version)
    if origin is None or origin.blessed is not True:
        raise UsageError(f'version {version} holds no model the Evaluator blessed')
    current = history.trained_by(runs, serving)
    if current is not None and current.model_fingerprint == origin.model_fingerprint:
        raise UsageError(f'version {serving}, serving now, already holds the model of '
                         f'version {version}')
    source = history.model_dir(origin)
    if source is None:
        raise UsageError(f'the model of version {version} is gone from {origin.model.uri}')
    for directory in (source, os.path.join(config.serving_model_dir, str(version))):
        if os.path.isdir(directory) and \
                directory_fingerprint(directory) != origin.model_fingerprint:
            raise UsageError(f'the files in {directory} no longer match the fingerprint '
                             f'recorded for version {version} ({origin.model_fingerprint[:12]})')
    return origin


def plan(config: PipelineConfig, target: Optional[int]) -> Tuple[int, mlmd.RunRecord]:
    """(version to put back, the run that trained its model); UsageError, with
    nothing written, when there is nothing safe to roll back to."""
    runs = history.load(config)
    serving = history.serving_now(config)
    if serving is None:
        raise UsageError(f'no version is served from {config.serving_model_dir}: '
                         'nothing to roll back')
    version = target if target is not None else default_target(runs, serving)
    return version, checked_origin(config, runs, version, serving)


def roll_back(config: PipelineConfig, version: int, origin: mlmd.RunRecord,
              working_on) -> mlmd.RunRecord:
    """Pushes the model of `version` (trained by `origin`) again as a new version;
    returns the rollback's run record."""
    run_id = local.new_run_id()
    local.run_tracked(create_rollback_pipeline(config, origin, version), run_id, working_on)
    return mlmd.find_run(history.load(config), run_id)
