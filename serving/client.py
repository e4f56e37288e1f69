"""A Python client for TF Serving's gRPC API: works against serving/ and the real
tensorflow_model_server alike (it only uses tensorflow_serving.apis).

    python -m serving.client --server localhost:8500 --model chicago_taxi --csv FILE \
        [--schema schema/schema.pbtxt]

Rows (dicts of raw features, or CSV rows typed by the schema) become
tf.Examples, sent to Predict in batches; deadlines, retries on UNAVAILABLE,
a message size limit and TLS are set on the client.
"""

import common.bootstrap  # noqa: F401  (first: the environment before TensorFlow loads)

# isort: split

import argparse
import csv
import sys
import time
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

import grpc
import numpy as np
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from common import examples
from common.argument_parser import ArgumentParser
from common.exit_status import ExitStatus
from serving import tensors
from serving.protos import read_text_proto

_SCHEMA_TYPES = {schema_pb2.INT: int, schema_pb2.FLOAT: float, schema_pb2.BYTES: str}


def schema_types(schema_path: str) -> Dict[str, type]:
    """Feature name -> Python type (int, float or str) from a TFDV schema text file."""
    schema = read_text_proto(schema_path, schema_pb2.Schema)
    return {feature.name: _SCHEMA_TYPES[feature.type] for feature in schema.feature}


def read_csv(path: str, types: Dict[str, type]) -> List[Dict[str, Any]]:
    """The rows, typed; ValueError naming the line of a cell that is not of its type."""
    with open(path, newline='') as f:
        rows = []
        for line, row in enumerate(csv.DictReader(f), start=2):
            try:
                rows.append(examples.typed(row, types))
            except ValueError as error:
                raise ValueError(f'{path} line {line}: {error}') from None
        return rows


class ServingClient:
    """PredictionService and ModelService calls with a deadline and retries."""

    def __init__(self, target: str, *, root_certificates: Optional[bytes] = None,
                 timeout_seconds: float = 10.0, retries: int = 3,
                 max_message_bytes: int = 64 << 20):
        options = [('grpc.max_send_message_length', max_message_bytes),
                   ('grpc.max_receive_message_length', max_message_bytes)]
        self._channel = (
            grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates), options)
            if root_certificates else grpc.insecure_channel(target, options))
        self.prediction = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self._channel)
        self._timeout = timeout_seconds
        self._retries = retries

    def call(self, method, request):
        """One RPC with the deadline; UNAVAILABLE (server starting, restarting,
        overloaded) is retried with exponential backoff."""
        for attempt in range(self._retries + 1):
            try:
                return method(request, timeout=self._timeout)
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE or attempt == self._retries:
                    raise
                time.sleep(0.1 * 2 ** attempt)

    def predict(self, model: str, rows: Sequence[Mapping[str, Any]], *,
                signature: str = 'serving_default', output: str = 'probabilities',
                version: Optional[int] = None, label: Optional[str] = None,
                batch_size: int = 256) -> np.ndarray:
        """One output for every row, concatenated over batches of batch_size."""
        results = []
        for start in range(0, len(rows), batch_size):
            request = self.predict_request(model, rows[start:start + batch_size],
                                           signature=signature, version=version, label=label)
            request.output_filter.append(output)
            response = self.call(self.prediction.Predict, request)
            results.append(tensors.to_ndarray(response.outputs[output]))
        return np.concatenate(results) if results else np.empty((0,))

    @staticmethod
    def predict_request(model: str, rows: Iterable[Mapping[str, Any]], *,
                        signature: str = 'serving_default', version: Optional[int] = None,
                        label: Optional[str] = None,
                        input_name: str = 'examples') -> predict_pb2.PredictRequest:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model
        request.model_spec.signature_name = signature
        if version is not None:
            request.model_spec.version.value = version
        elif label is not None:
            request.model_spec.version_label = label
        request.inputs[input_name].CopyFrom(tensors.strings_proto(
            [examples.example(row).SerializeToString() for row in rows]))
        return request

    def status(self, model: str) -> get_model_status_pb2.GetModelStatusResponse:
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = model
        return self.call(self.models.GetModelStatus, request)

    def metadata(self, model: str) -> get_model_metadata_pb2.GetModelMetadataResponse:
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=['signature_def'])
        request.model_spec.name = model
        return self.call(self.prediction.GetModelMetadata, request)

    def close(self) -> None:
        self._channel.close()


DEFAULT_SCHEMA_FILE = 'schema/schema.pbtxt'   # the curated schema, from the repository's root


def main(argv: Optional[List[str]] = None) -> int:
    parser = ArgumentParser(prog='python -m serving.client', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--server', default='localhost:8500', help='HOST:PORT of the gRPC API')
    parser.add_argument('--model', required=True)
    parser.add_argument('--csv', required=True, help='rows of raw features, with a header')
    parser.add_argument('--schema', default=DEFAULT_SCHEMA_FILE,
                        help='TFDV schema giving each column its type '
                             f'(default: {DEFAULT_SCHEMA_FILE})')
    parser.add_argument('--signature', default='serving_default')
    parser.add_argument('--output', default='probabilities')
    parser.add_argument('--version', type=int)
    parser.add_argument('--label')
    parser.add_argument('--timeout', type=float, default=10.0, help='deadline per call, seconds')
    parser.add_argument('--retries', type=int, default=3, help='retries on UNAVAILABLE')
    parser.add_argument('--batch_size', type=int, default=256)
    parser.add_argument('--tls_ca', help='PEM file of the CA that signed the server certificate')
    args = parser.parse_args(argv)
    try:
        rows = read_csv(args.csv, schema_types(args.schema))
        root = open(args.tls_ca, 'rb').read() if args.tls_ca else None
    except OSError as error:
        print(f'error: {error.filename}: {error.strerror}', file=sys.stderr)
        return ExitStatus.USAGE
    except ValueError as error:     # a schema that does not parse, a cell of the wrong type
        print(f'error: {error}', file=sys.stderr)
        return ExitStatus.USAGE
    client = ServingClient(args.server, root_certificates=root, timeout_seconds=args.timeout,
                           retries=args.retries)
    try:
        values = client.predict(args.model, rows, signature=args.signature, output=args.output,
                                version=args.version, label=args.label,
                                batch_size=args.batch_size)
    except grpc.RpcError as error:
        print(f'error: {error.code().name}: {error.details()}', file=sys.stderr)
        return ExitStatus.PROBLEM
    finally:
        client.close()
    for i, value in enumerate(values):
        print(f'{i}\t' + '\t'.join(f'{v:.6f}' for v in np.atleast_1d(value)))
    return ExitStatus.DONE


if __name__ == '__main__':
    sys.exit(main())
