"""Batch inference: TFX's BulkInferrer with the latest blessed model on a directory
of CSV files (the pipeline: pipeline/batch_pipeline.py). Its PredictionLogs
become DIR/predictions.csv: the input columns plus `probability`.
"""

import csv
import glob
import os
from typing import Any, Dict, List

from common.exit_status import UsageError
from operations import execution, run_history
from pipeline import component_ids as ids
from pipeline import mlmd
from pipeline.config import PipelineConfig
from pipeline.store_url import Store


def latest_blessed_model(store: Store) -> mlmd.Artifact:
    model = mlmd.latest_blessed_model(mlmd.connect(store))
    if model is None:
        raise UsageError(f'no blessed model in {store}: run the pipeline first')
    return model


def _value(feature: Any) -> Any:
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

    from serving import tensors  # TF Serving's TensorProto layout
    rows = []
    files = glob.glob(os.path.join(inference_uri, '*.gz'))
    for record in tf.data.TFRecordDataset(files, compression_type='GZIP'):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log
        examples = log.request.inputs['examples'].string_val
        probabilities = tensors.to_ndarray(log.response.outputs['probabilities']).reshape(-1)
        for serialized, probability in zip(examples, probabilities, strict=True):
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


def predict(config: PipelineConfig, input_dir: str, output_dir: str,
            lock: execution.RunLock, progress: execution.Progress) -> str:
    """Scores input_dir's CSV files with the latest blessed model; returns the CSV path."""
    from pipeline.batch_pipeline import batch_pipeline_name, create_batch_pipeline
    model = latest_blessed_model(config.store)
    run_id = execution.new_run_id()
    beam_args = config.beam_pipeline_args
    if not execution.runner_chosen(beam_args):
        beam_args += execution.direct_runner_args(input_dir)
    tfx_pipeline = create_batch_pipeline(config, input_dir, run_history.stored(model), beam_args)
    execution.run_tracked(tfx_pipeline, run_id, config.store, lock, progress)
    record = mlmd.find_run(mlmd.load_runs(mlmd.connect(config.store),
                                          batch_pipeline_name(config)), run_id)
    result = record.output(ids.BULK_INFERRER, 'inference_result')
    if result is None:
        raise RuntimeError(f'run {run_id}: {ids.BULK_INFERRER} recorded no inference result')
    return write_csv(prediction_rows(result.uri), os.path.join(output_dir, 'predictions.csv'))
