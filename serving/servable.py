"""One loaded version of a SavedModel: its SignatureDefs and how to run them."""

import os
import struct
from typing import Dict, Iterable, Iterator, List

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2
from tensorflow_serving.apis import prediction_log_pb2

from serving.errors import ServingError

SAVED_MODEL_FILE = 'saved_model.pb'
WARMUP_FILE = os.path.join('assets.extra', 'tf_serving_warmup_requests')
MAX_WARMUP_RECORDS = 1000  # TF Serving's limit
SERVE_TAG = 'serve'


def read_signature_defs(path: str) -> Dict[str, meta_graph_pb2.SignatureDef]:
    """The SignatureDefs of the MetaGraph tagged 'serve', as TF Serving reports them."""
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(path, SAVED_MODEL_FILE), 'rb') as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        if SERVE_TAG in meta_graph.meta_info_def.tags:
            return dict(meta_graph.signature_def)
    raise ValueError(f'{path} has no MetaGraph tagged "{SERVE_TAG}"')


def _tfrecords(path: str) -> Iterator[bytes]:
    """Records of an uncompressed TFRecord file: length, CRC, data, CRC."""
    size = os.path.getsize(path)
    with open(path, 'rb') as f:
        while True:
            header = f.read(12)
            if not header:
                return
            if len(header) < 12:
                raise ValueError(f'{path}: truncated record header')
            (length,) = struct.unpack('<Q', header[:8])
            if f.tell() + length + 4 > size:
                raise ValueError(f'{path}: truncated record')
            data = f.read(length)
            f.read(4)
            yield data


def read_warmup_requests(path: str) -> List[prediction_log_pb2.PredictionLog]:
    """The PredictionLogs in assets.extra/tf_serving_warmup_requests, if any."""
    warmup = os.path.join(path, WARMUP_FILE)
    if not os.path.exists(warmup):
        return []
    logs = []
    for record in _tfrecords(warmup):
        if len(logs) == MAX_WARMUP_RECORDS:
            raise ValueError(f'{warmup} has more than {MAX_WARMUP_RECORDS} records')
        logs.append(prediction_log_pb2.PredictionLog.FromString(record))
    return logs


def _status_code(error: tf.errors.OpError) -> grpc.StatusCode:
    """TensorFlow's error codes are gRPC's."""
    for code in grpc.StatusCode:
        if code.value[0] == error.error_code:
            return code
    return grpc.StatusCode.UNKNOWN


def _message(error: tf.errors.OpError) -> str:
    """The error as a graph run reports it, without eager mode's preamble."""
    marker = '<stack traces unavailable>\n'
    text = error.message
    return text.split(marker, 1)[1] if marker in text else text


class Servable:
    """A model version loaded with tf.saved_model.load; safe to call from many threads."""

    def __init__(self, name: str, version: int, path: str):
        self.name = name
        self.version = version
        self.path = path
        self.signature_defs = read_signature_defs(path)
        self._functions = dict(tf.saved_model.load(path, tags=[SERVE_TAG]).signatures)

    def run(self, signature_name: str, inputs: Dict[str, np.ndarray],
            output_names: Iterable[str]) -> Dict[str, np.ndarray]:
        """Runs a signature on validated inputs; TensorFlow errors keep their codes."""
        function = self._functions[signature_name]
        try:
            outputs = function(**{k: tf.constant(v) for k, v in inputs.items()})
        except tf.errors.OpError as error:
            raise ServingError(_status_code(error), _message(error)) from None
        return {name: outputs[name].numpy() for name in output_names}
