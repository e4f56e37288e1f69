"""One loaded version of a SavedModel: its SignatureDefs and how to run them."""

import dataclasses
import os
import re
import struct
from typing import Callable, Dict, FrozenSet, Iterable, Iterator, List, Optional, Tuple

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError
from tensorflow.core.example import example_pb2
from tensorflow.core.protobuf import config_pb2
from tensorflow.python.util import deprecation
from tensorflow_serving.apis import prediction_log_pb2

from common.tf_serving import WARMUP_FILE
from serving.errors import MAX_MESSAGE_CHARS, ServingError, escaped
from serving.parsed_features import features_per_example, signature_features

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


_GRAPH_NODES = re.compile(r'\{\{[^}]*\}\}|\[\[.*\]\]', re.DOTALL)


def _unparsed_example(error: UnicodeDecodeError, inputs: Dict[str, np.ndarray]) -> str:
    """TensorFlow quotes the example it could not parse in its message; bytes that are
    not UTF-8 break the message before it reaches Python as an OpError. Said again,
    those bytes escaped: which example protobuf cannot read either, or that it reads
    them all (TensorFlow's parser is the stricter: a feature map entry must hold a key
    and then a value)."""
    said = error.object.decode('utf-8', 'backslashreplace') \
        if isinstance(error.object, bytes) else str(error)
    said = _GRAPH_NODES.sub('', said).strip()   # without {{function_node ...}}, [[...]]
    for values in inputs.values():
        if values.dtype != object:
            continue
        for index, value in enumerate(values.flat):
            try:
                example_pb2.Example.FromString(value)
            except (DecodeError, TypeError):
                return (f'Could not parse example input: example {index} is not a serialized '
                        'tf.Example (protobuf cannot read it either)')
    return ("Could not parse example input: TensorFlow's parser refused an example that "
            f'protobuf reads as a tf.Example; TensorFlow said: {escaped(said, MAX_MESSAGE_CHARS)}')


def _status_code(error: tf.errors.OpError) -> grpc.StatusCode:
    """TensorFlow's error codes are gRPC's."""
    for code in grpc.StatusCode:
        if code.value[0] == error.error_code:
            return code
    return grpc.StatusCode.UNKNOWN


@dataclasses.dataclass(frozen=True)
class SignatureInfo:
    """A SignatureDef as plain Python, read once: a protobuf map makes new objects at
    each access (about a third of a batch-1 Predict's own Python time went to that)."""

    inputs: Dict[str, Tuple[int, Optional[Tuple[int, ...]]]]   # alias -> (dtype, dims or None)
    outputs: Dict[str, int]                                     # alias -> dtype
    input_names: Tuple[str, ...]                                # sorted
    output_names: Tuple[str, ...]                               # sorted

    @classmethod
    def of(cls, signature) -> 'SignatureInfo':
        inputs = {alias: (info.dtype, None if info.tensor_shape.unknown_rank
                          else tuple(d.size for d in info.tensor_shape.dim))
                  for alias, info in signature.inputs.items()}
        outputs = {alias: info.dtype for alias, info in signature.outputs.items()}
        return cls(inputs, outputs, tuple(sorted(inputs)), tuple(sorted(outputs)))


def _names_taken(features_taken: Dict[str, Optional[FrozenSet[str]]],
                 signature_defs) -> Optional[FrozenSet[str]]:
    """The names of the features any signature takes and of its inputs: what a request
    may name (serving/rest.py refuses others unparsed); None if some signature's
    features are unknown, or none parses tf.Examples."""
    known = [taken for taken in features_taken.values() if taken is not None]
    if not known or len(known) < len(features_taken):
        return None
    return frozenset().union(*known, *(signature.inputs for signature in signature_defs.values()))


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
        self.signatures = {name: SignatureInfo.of(signature)
                           for name, signature in self.signature_defs.items()}
        # What one serialized tf.Example costs in admission (serving/admission.py), and
        # the names of the features each signature takes (serving/parsed_features.py).
        self.features_per_example = max(1, features_per_example(meta_graph.graph_def))
        self.features_taken = signature_features(meta_graph)
        self.names_taken = _names_taken(self.features_taken, self.signature_defs)
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
        except UnicodeDecodeError as error:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                               _unparsed_example(error, inputs)) from None
        return dict(zip(output_names, outputs, strict=True))
