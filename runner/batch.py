"""Batch inference: TFX's BulkInferrer with the latest blessed model on a directory of CSV files.

A pipeline of its own (chicago-taxi-batch, same ML Metadata as the training
pipeline, so its lineage shows which model scored which data): CsvExampleGen
reads the rows into one split, an Importer brings in the model the Evaluator
blessed last, BulkInferrer runs its serving_default signature on Beam. The
PredictionLogs become DIR/predictions.csv: the input columns plus `probability`.
"""

import csv
import glob
import os
from typing import Dict, List

from pipeline import mlmd
from pipeline.config import PipelineConfig
from runner import local
from runner.errors import UsageError

BATCH_PIPELINE = 'chicago-taxi-batch'
SPLIT = 'inference'


def latest_blessed_model(metadata_path: str) -> mlmd.Artifact:
    model = mlmd.latest_blessed_model(mlmd.connect(metadata_path))
    if model is None:
        raise UsageError(f'no blessed model in {metadata_path}: run the pipeline first')
    return model


def create_batch_pipeline(config: PipelineConfig, input_dir: str, model_uri: str):
    from tfx.components import BulkInferrer, CsvExampleGen
    from tfx.dsl.components.common.importer import Importer
    from tfx.orchestration import metadata
    from tfx.orchestration import pipeline as tfx_pipeline
    from tfx.proto import bulk_inferrer_pb2, example_gen_pb2
    from tfx.types.standard_artifacts import Model

    example_gen = CsvExampleGen(
        input_base=input_dir,
        input_config=example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name='rows', pattern='*.csv')]),
        output_config=example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
            example_gen_pb2.SplitConfig.Split(name=SPLIT, hash_buckets=1)])))
    model = Importer(source_uri=model_uri, artifact_type=Model).with_id('blessed_model')
    bulk_inferrer = BulkInferrer(
        examples=example_gen.outputs['examples'],
        model=model.outputs['result'],
        data_spec=bulk_inferrer_pb2.DataSpec(example_splits=[SPLIT]),
        model_spec=bulk_inferrer_pb2.ModelSpec(model_signature_name=['serving_default']))
    return tfx_pipeline.Pipeline(
        pipeline_name=BATCH_PIPELINE,
        pipeline_root=os.path.join(config.home, 'pipelines', BATCH_PIPELINE),
        components=[example_gen, model, bulk_inferrer],
        enable_cache=True,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(
            config.metadata_path),
        beam_pipeline_args=list(config.beam_pipeline_args + local.direct_runner_args(input_dir)))


def _value(feature):
    """A feature's (first) value as the CSV had it; floats at float32's precision."""
    kind = feature.WhichOneof('kind')
    values = list(getattr(feature, kind).value) if kind else []
    if not values:
        return ''
    value = values[0]
    if kind == 'float_list':
        return float(f'{value:.7g}')
    return value.decode() if isinstance(value, bytes) else value


def prediction_rows(inference_uri: str) -> List[Dict]:
    """One dict per scored example: its raw features and the model's probability."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    from serving import tensors   # TF Serving's TensorProto layout
    rows = []
    files = glob.glob(os.path.join(inference_uri, '*.gz'))
    for record in tf.data.TFRecordDataset(files, compression_type='GZIP'):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log
        examples = log.request.inputs['examples'].string_val
        probabilities = tensors.to_ndarray(log.response.outputs['probabilities']).reshape(-1)
        for serialized, probability in zip(examples, probabilities):
            example = tf.train.Example.FromString(serialized)
            row = {name: _value(f) for name, f in example.features.feature.items()}
            row['probability'] = float(probability)
            rows.append(row)
    return rows


def write_csv(rows: List[Dict], path: str) -> str:
    columns = sorted({name for row in rows for name in row} - {'probability'}) + ['probability']
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def run_batch(config: PipelineConfig, input_dir: str, output_dir: str, working_on) -> str:
    """Scores input_dir's CSV files with the latest blessed model; returns the CSV path."""
    model = latest_blessed_model(config.metadata_path)
    run_id = local.new_run_id()
    local.run_tracked(create_batch_pipeline(config, input_dir, model.uri), run_id, working_on)
    record = mlmd.find_run(mlmd.load_runs(mlmd.connect(config.metadata_path), BATCH_PIPELINE),
                           run_id)
    result = record.output('BulkInferrer', 'inference_result')
    return write_csv(prediction_rows(result.uri), os.path.join(output_dir, 'predictions.csv'))
