"""Served traffic as the model server's request logs hold it: TF Serving's
PredictionLog records (TFRecord files), read back as serialized tf.Examples in
time order, cut into windows, and described by TFDV statistics."""

import glob
import os
import tempfile
from typing import List, Sequence, Tuple

import numpy as np
from tensorflow_metadata.proto.v0 import statistics_pb2


def request_log_paths(location: str) -> List[str]:
    """TFRecord files of a request log: a directory, a filename prefix or a glob."""
    if os.path.isdir(location):
        return glob.glob(os.path.join(location, '*.tfrecord'))
    return glob.glob(location) or glob.glob(location + '-*.tfrecord')


def served_examples(paths: Sequence[str]) -> List[Tuple[int, bytes]]:
    """(timestamp, serialized tf.Example) of every example in the request logs, in time order."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2
    examples = []
    for path in sorted(paths):
        for record in tf.data.TFRecordDataset(path):
            entry = prediction_log_pb2.PredictionLog.FromString(record.numpy())
            kind = entry.WhichOneof('log_type')
            when = entry.log_metadata.timestamp_secs
            if kind == 'predict_log':
                for tensor in entry.predict_log.request.inputs.values():
                    examples += [(when, value) for value in tensor.string_val]
            elif kind in ('classify_log', 'regress_log', 'multi_inference_log'):
                request_input = getattr(entry, kind).request.input
                listed = request_input.example_list.examples or \
                    request_input.example_list_with_context.examples
                examples += [(when, e.SerializeToString()) for e in listed]
    return sorted(examples, key=lambda pair: pair[0])


def split_windows(examples: Sequence[Tuple[int, bytes]], count: int) -> List[List[bytes]]:
    """count windows of consecutive served examples, of (nearly) equal size."""
    size = -(-len(examples) // count) if examples else 1
    return [[e for _, e in examples[i:i + size]] for i in range(0, len(examples), size)]


def statistics_of(examples: Sequence[bytes]) -> statistics_pb2.DatasetFeatureStatisticsList:
    """TFDV statistics of serialized tf.Examples (on Beam, as StatisticsGen computes them)."""
    import tensorflow as tf
    import tensorflow_data_validation as tfdv
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, 'examples.tfrecord')
        with tf.io.TFRecordWriter(path) as writer:
            for example in examples:
                writer.write(example)
        return tfdv.generate_statistics_from_tfrecord(path)


def feature_values(examples: Sequence[bytes], name: str) -> np.ndarray:
    """The numeric values of one feature over serialized tf.Examples (absent ones skipped)."""
    from tensorflow.core.example import example_pb2
    values: List[float] = []
    for serialized in examples:
        feature = example_pb2.Example.FromString(serialized).features.feature.get(name)
        if feature is not None:
            values += list(feature.float_list.value) or list(feature.int64_list.value)
    return np.asarray(values, dtype=np.float64)
