"""One loaded version of a SavedModel: its SignatureDefs and how to run them."""

import os
import struct
from typing import Callable, Dict, Iterable, Iterator, List, Tuple

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import config_pb2
from tensorflow.python.util import deprecation
from tensorflow_serving.apis import prediction_log_pb2

from common.tf_serving import WARMUP_FILE
from serving.errors import ServingError

MAX_WARMUP_RECORDS = 1000  # TF Serving's limit
SERVE_TAG = 'serve'


def _tfrecords(path: str) -> Iterator[bytes]:
    """Records of an uncompressed TFRecord file: length, CRC, data, CRC."""
    size = tf.io.gfile.stat(path).length
    with tf.io.gfile.GFile(path, 'rb') as f:
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
    if not tf.io.gfile.exists(warmup):
        return []
    logs: List[prediction_log_pb2.PredictionLog] = []
    for record in _tfrecords(warmup):
        if len(logs) == MAX_WARMUP_RECORDS:
            raise ValueError(f'{warmup} has more than {MAX_WARMUP_RECORDS} records')
        logs.append(prediction_log_pb2.PredictionLog.FromString(record))
    return logs


_PARSE_OPS = ('ParseExample', 'ParseExampleV2', 'ParseSingleExample', 'ParseSequenceExample',
              'ParseSequenceExampleV2')


def _features_parsed(graph_def) -> int:
    """The most features one tf.Example parsing op of the graph (or of the functions in
    its library) extracts: what each serialized example sent to the model expands to."""
    nodes = list(graph_def.node)
    for function in graph_def.library.function:
        nodes.extend(function.node_def)
    most = 0
    for node in nodes:
        if node.op in _PARSE_OPS:
            attr = node.attr
            count = (len(attr['Tdense'].list.type) + attr['num_sparse'].i + attr['Nsparse'].i
                     + attr['Ndense'].i + len(attr['ragged_value_types'].list.type))
            most = max(most, count)
    return most


def _status_code(error: tf.errors.OpError) -> grpc.StatusCode:
    """TensorFlow's error codes are gRPC's."""
    for code in grpc.StatusCode:
        if code.value[0] == error.error_code:
            return code
    return grpc.StatusCode.UNKNOWN


class Servable:
    """A model version loaded as TF Serving loads one: the 'serve' MetaGraph in a
    Session, signatures run by their tensor names. Safe to call from many threads.

    Each run executes in the calling thread (RunOptions.inter_op_thread_pool = -1):
    for a serving graph this small, handing it to an inter-op pool costs more than
    the ops (batch 1 on the taxi model: 0.10 ms, against 0.25 ms through the TF2
    signature function)."""

    def __init__(self, name: str, version: int, path: str):
        self.name = name
        self.version = version
        self.path = path
        self._session = tf.compat.v1.Session(graph=tf.Graph())
        # TF Serving's own loader; deprecated in favour of tf.saved_model.load, which
        # gives no Session (the notice would only mislead server logs).
        with self._session.graph.as_default(), deprecation.silence():
            meta_graph = tf.compat.v1.saved_model.loader.load(self._session, [SERVE_TAG], path)
        self.signature_defs = dict(meta_graph.signature_def)
        # What one serialized tf.Example costs in admission (serving/admission.py).
        self.features_per_example = max(1, _features_parsed(meta_graph.graph_def))
        self._callables: Dict[tuple, Callable] = {}

    def _callable(self, signature_name: str, input_names: Tuple[str, ...],
                  output_names: Tuple[str, ...]) -> Callable:
        """A Session callable per (signature, inputs, outputs), made on first use."""
        key = (signature_name, input_names, output_names)
        if key not in self._callables:
            signature = self.signature_defs[signature_name]
            options = config_pb2.CallableOptions(
                feed=[signature.inputs[k].name for k in input_names],
                fetch=[signature.outputs[k].name for k in output_names])
            options.run_options.inter_op_thread_pool = -1
            # The private maker skips Session.run's per-call feed handling (0.06 ms).
            self._callables[key] = self._session._make_callable_from_options(options)
        return self._callables[key]

    def run(self, signature_name: str, inputs: Dict[str, np.ndarray],
            output_names: Iterable[str]) -> Dict[str, np.ndarray]:
        """Runs a signature on validated inputs; TensorFlow errors keep their codes."""
        input_names, output_names = tuple(inputs), tuple(output_names)
        function = self._callable(signature_name, input_names, output_names)
        try:
            outputs = function(*inputs.values())
        except tf.errors.OpError as error:
            raise ServingError(_status_code(error), error.message) from None
        except UnicodeDecodeError:
            # TensorFlow quotes the bad input in its message; bytes that are not UTF-8
            # break the message itself before the error reaches Python as an OpError.
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                               'Could not parse example input: its bytes are not a '
                               'serialized tf.Example') from None
        return dict(zip(output_names, outputs, strict=True))
