"""create_batch_pipeline: TFX's BulkInferrer with a given model on a directory of CSV files.

A pipeline of its own (<training pipeline>-batch, sharing the home's ML
Metadata, so its lineage shows which model scored which data): CsvExampleGen
reads the rows into one split, an Importer brings in the model, BulkInferrer
runs its serving_default signature on Beam.
"""

from typing import Sequence

from tfx.components import BulkInferrer
from tfx.dsl.components.common.importer import Importer
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import bulk_inferrer_pb2, example_gen_pb2
from tfx.types.standard_artifacts import Model

from pipeline import component_ids as ids
from pipeline.config import PipelineConfig
from pipeline.csv_example_gen import CsvExampleGen
from pipeline.mlmd import connection_config
from pipeline.training_pipeline import name_beam_jobs

SPLIT = 'inference'


def batch_pipeline_name(config: PipelineConfig) -> str:
    return config.pipeline_name + ids.BATCH_SUFFIX


def create_batch_pipeline(config: PipelineConfig, input_dir: str, model_uri: str,
                          beam_pipeline_args: Sequence[str]) -> tfx_pipeline.Pipeline:
    """Scores input_dir's *.csv with the SavedModel of the Model at model_uri."""
    example_gen = CsvExampleGen(
        input_base=input_dir,
        input_config=example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name='rows', pattern='*.csv')]),
        output_config=example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
            example_gen_pb2.SplitConfig.Split(name=SPLIT, hash_buckets=1)]))
    ).with_id(ids.EXAMPLE_GEN)
    model = Importer(source_uri=model_uri, artifact_type=Model).with_id(ids.BLESSED_MODEL_IMPORTER)
    bulk_inferrer = BulkInferrer(
        examples=example_gen.outputs['examples'],
        model=model.outputs['result'],
        data_spec=bulk_inferrer_pb2.DataSpec(example_splits=[SPLIT]),
        model_spec=bulk_inferrer_pb2.ModelSpec(model_signature_name=['serving_default'])
    ).with_id(ids.BULK_INFERRER)
    name = batch_pipeline_name(config)
    components = [example_gen, model, bulk_inferrer]
    if config.name_beam_jobs:
        name_beam_jobs(components)
    return tfx_pipeline.Pipeline(
        pipeline_name=name,
        pipeline_root=config.paths.pipeline_root(name),
        components=components,
        enable_cache=True,
        metadata_connection_config=connection_config(config.store),
        beam_pipeline_args=list(beam_pipeline_args))
