"""create_rollback_pipeline: an earlier blessed model pushed again, as a new version.

TF Serving (and our server) serve the newest version under the model's base
path, so a rollback that writes the earlier model's files under a new number
switches every server with no config change and no restart. It is a pipeline
of its own (<training pipeline>-rollback, same ML Metadata): Importers bring in
the earlier run's Model and ModelBlessing (the same artifacts, so lineage stays
whole) and this project's Pusher pushes them, recording the version rolled
back to (mlmd.ROLLED_BACK_TO).
"""

from tfx.dsl.components.common.importer import Importer
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import pusher_pb2
from tfx.types.standard_artifacts import Model, ModelBlessing

from pipeline import component_ids as ids
from pipeline.config import PipelineConfig
from pipeline.mlmd import ROLLED_BACK_TO, connection_config
from pipeline.pusher import Pusher


def rollback_pipeline_name(config: PipelineConfig) -> str:
    return config.pipeline_name + ids.ROLLBACK_SUFFIX


def create_rollback_pipeline(config: PipelineConfig, model_uri: str, blessing_uri: str,
                             version: int) -> tfx_pipeline.Pipeline:
    """Pushes the Model at model_uri (blessed by the ModelBlessing at blessing_uri)
    as a new version that records it rolls back to `version`."""
    model = Importer(source_uri=model_uri,
                     artifact_type=Model).with_id(ids.ROLLBACK_MODEL_IMPORTER)
    blessing = Importer(source_uri=blessing_uri,
                        artifact_type=ModelBlessing).with_id(ids.ROLLBACK_BLESSING_IMPORTER)
    pusher = Pusher(
        model=model.outputs['result'], model_blessing=blessing.outputs['result'],
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(
                base_directory=config.serving_model_dir)),
        custom_config={ROLLED_BACK_TO: str(version)}).with_id(ids.PUSHER)
    name = rollback_pipeline_name(config)
    return tfx_pipeline.Pipeline(
        pipeline_name=name, pipeline_root=config.paths.pipeline_root(name),
        components=[model, blessing, pusher], enable_cache=False,
        metadata_connection_config=connection_config(config.store))
