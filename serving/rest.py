"""The REST face, with TF Serving's paths, JSON shapes and HTTP status mapping.

  GET  /v1/models/{m}[/versions/{v}|/labels/{l}]             model status
  GET  /v1/models/{m}[/versions/{v}|/labels/{l}]/metadata    signature defs
  POST /v1/models/{m}[/versions/{v}|/labels/{l}]:predict     row ("instances") or
                                                             columnar ("inputs") format
  POST ...:classify, ...:regress                             {"examples": [...], "context": {...}}

Bytes travel as {"b64": "..."}. Errors are {"error": "..."}.
"""

import base64
import json
import logging
import re
import time
from typing import Any, Dict, Optional, Tuple

import grpc
import numpy as np
from google.protobuf import json_format
from tensorflow.core.example import example_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    predict_pb2,
    regression_pb2,
)

from common import examples
from common.tf_serving import version_number
from serving import tensors
from serving.admission import json_cost
from serving.api import ServingApi, _signature_name, reply_too_large
from serving.errors import ServingError, escaped, invalid_argument

log = logging.getLogger(__name__)

_MODEL = r'/v1/models/([^/:]+)'
_VERSION = r'(?:/versions/(\d+)|/labels/([^/:]+))?'
_PREDICTION_PATH = re.compile(_MODEL + _VERSION + r':(classify|regress|predict)', re.IGNORECASE)
_STATUS_PATH = re.compile(_MODEL + _VERSION + r'(/metadata)?', re.IGNORECASE)
_MODEL_PATH = re.compile(_MODEL, re.IGNORECASE)  # failures count under the model too


def _excerpt(value, limit: int = 80) -> str:
    """A JSON value as an error message may quote it: never the whole of a large body."""
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit] + '...'


def _model_spec(name: str, version: Optional[str], label: Optional[str]) -> model_pb2.ModelSpec:
    spec = model_pb2.ModelSpec(name=name)
    if version is not None:
        number = version_number(version)
        if number is None:
            raise invalid_argument(f'Invalid version: {escaped(version, 30)} is not a 64-bit '
                                   'integer')
        spec.version.value = number
    elif label is not None:
        spec.version_label = label
    return spec


# --- JSON values <-> tensors ----------------------------------------------------

def _json_bytes(value) -> bytes:
    if isinstance(value, dict):
        if set(value) != {'b64'} or not isinstance(value['b64'], str):
            raise invalid_argument(f'Expected a string or {{"b64": "..."}}, got: {_excerpt(value)}')
        try:
            return base64.b64decode(value['b64'], validate=True)
        except ValueError as error:
            raise invalid_argument(f'Unable to base64 decode: {error}') from None
    if isinstance(value, str):
        return value.encode()
    raise invalid_argument(f'Expected a string value, got: {_excerpt(value)}')


def _strings(value):
    return [_strings(v) for v in value] if isinstance(value, list) else _json_bytes(value)


def _to_array(value, dtype: int, what: str) -> np.ndarray:
    """A JSON value as an array of the signature input's dtype."""
    try:
        if dtype == types_pb2.DT_STRING:
            nested = _strings(value)
            array = np.empty(np.shape(np.array(nested, dtype=object)), dtype=object)
            array[...] = nested
            if array.dtype == object and any(isinstance(v, list) for v in array.flat):
                raise ValueError('rows of different lengths')
            return array
        array = np.array(value, dtype=tensors.numpy_dtype(dtype))
    except (TypeError, ValueError) as error:
        raise invalid_argument(f'Failed to process {what}: {error}') from None
    except RecursionError:
        raise invalid_argument(f'Failed to process {what}: nested too deeply') from None
    return array


def _from_array(array: np.ndarray, alias: str):
    """An output as JSON: numbers as they are, bytes as text or {"b64": ...}."""
    if array.dtype != object:
        return array.tolist()

    def convert(value):
        if isinstance(value, list):
            return [convert(v) for v in value]
        if alias.endswith('_bytes'):
            return {'b64': base64.b64encode(value).decode()}
        try:
            return value.decode()
        except UnicodeDecodeError:
            return {'b64': base64.b64encode(value).decode()}
    return convert(array.tolist())


def _example(features) -> example_pb2.Example:
    if not isinstance(features, dict):
        raise invalid_argument(f'An example must be a JSON object, got: {_excerpt(features)}')
    try:
        return examples.example({
            name: [_json_bytes(v) if isinstance(v, dict) else v
                   for v in (value if isinstance(value, list) else [value])]
            for name, value in features.items()})
    except ValueError as error:
        raise invalid_argument(str(error)) from None


# --- Requests --------------------------------------------------------------------

def _parse_body(body: bytes) -> Dict[str, Any]:
    try:
        parsed = json.loads(body or b'{}')
    except (ValueError, UnicodeDecodeError) as error:
        raise invalid_argument(f'JSON Parse error: {error}') from None
    except RecursionError:
        raise invalid_argument('JSON Parse error: nested too deeply') from None
    if not isinstance(parsed, dict):
        raise invalid_argument('JSON Value: must be an object')
    signature = parsed.get('signature_name', '')
    if not isinstance(signature, str):
        raise invalid_argument("'signature_name' key must be a string value.")
    return parsed


def _named(value, names) -> bool:
    return isinstance(value, dict) and set(value) == set(names)


def predict_request(body: Dict[str, Any], spec,
                    signature) -> Tuple[predict_pb2.PredictRequest, str]:
    """A PredictRequest from the row or columnar JSON format; returns it and the format.

    With one signature input, instances (or inputs) may be its bare values;
    otherwise each is an object naming every input.
    """
    if ('instances' in body) == ('inputs' in body):
        raise invalid_argument("Missing 'inputs' or 'instances' key" if 'instances' not in body
                               else "Not both 'inputs' and 'instances' can be specified")
    names = sorted(signature.inputs)
    expected = f'an object with the inputs {{{",".join(names)}}}'
    if 'instances' in body:
        fmt, instances = 'row', body['instances']
        if not isinstance(instances, list) or not instances:
            raise invalid_argument("'instances' must be a non-empty list")
        if all(_named(i, names) for i in instances):
            values = {n: [i[n] for i in instances] for n in names}
        elif len(names) == 1:
            values = {names[0]: instances}
        else:
            raise invalid_argument(f'Every instance must be {expected}')
    else:
        fmt, inputs = 'columnar', body['inputs']
        if _named(inputs, names):
            values = inputs
        elif len(names) == 1:
            values = {names[0]: inputs}
        else:
            raise invalid_argument(f"'inputs' must be {expected}")
    request = predict_pb2.PredictRequest(model_spec=spec)
    for name, value in values.items():
        dtype = signature.inputs[name].dtype
        request.inputs[name].CopyFrom(tensors.to_proto(_to_array(value, dtype, f'input {name}'),
                                                       dtype))
    return request, fmt


def predict_json(response: predict_pb2.PredictResponse, fmt: str):
    outputs = {alias: _from_array(tensors.to_ndarray(proto), alias)
               for alias, proto in response.outputs.items()}
    if fmt == 'columnar':
        return {'outputs': next(iter(outputs.values())) if len(outputs) == 1 else outputs}
    if len(outputs) == 1:
        return {'predictions': next(iter(outputs.values()))}
    rows = len(next(iter(outputs.values())))
    return {'predictions': [{alias: value[i] for alias, value in outputs.items()}
                            for i in range(rows)]}


def _input_proto(body: Dict[str, Any], target) -> None:
    examples = body.get('examples')
    if not isinstance(examples, list):
        raise invalid_argument("'examples' must be a list of objects")
    if 'context' in body:
        listed = target.example_list_with_context
        listed.context.CopyFrom(_example(body['context']))
    else:
        listed = target.example_list
    for features in examples:
        listed.examples.add().CopyFrom(_example(features))


class RestApi:
    """Handles one REST request: (method, path, body) -> (HTTP status, JSON or text).
    The transport (serving/rest_server.py) calls it on a thread of its pool for
    inference, on its event loop for the rest (status, metadata, metrics)."""

    def __init__(self, api: ServingApi, prometheus_path: Optional[str]):
        self._api = api
        self._prometheus_path = prometheus_path

    def handle_in_pool(self, method: str, path: str, body: bytes) -> Tuple[int, str, str]:
        """handle(), on an inference thread: its Python work holds a slot
        (serving/python_work.py)."""
        with self._api.python_work.slot():
            return self.handle(method, path, body)

    def handle(self, method: str, path: str, body: bytes) -> Tuple[int, str, str]:
        if method == 'GET' and self._prometheus_path and path == self._prometheus_path:
            return 200, 'text/plain; version=0.0.4', self._api.metrics.prometheus_text()
        started = time.perf_counter()
        named = _MODEL_PATH.match(path)
        model, api_name, code = named.group(1) if named else '', '', grpc.StatusCode.OK
        try:
            if not path.lower().startswith('/v1/'):
                return 404, 'application/json', json.dumps({'error': f'Not found: {path[:200]}'})
            with self._api.serving_call():
                api_name, result = self._dispatch(method, path, body)
            text = json.dumps(result)
            if len(text) > self._api.max_message_bytes:
                raise reply_too_large(len(text), self._api.max_message_bytes)
            return 200, 'application/json', text
        except ServingError as error:
            code = error.code
            log.info('REST %s %s: %s: %s', method, escaped(path), code.name, error.message)
            return error.http_status, 'application/json', json.dumps({'error': error.message})
        except Exception as error:  # a bug, not a bad request: answer and keep serving
            log.exception('REST %s %s failed', method, escaped(path))
            code = grpc.StatusCode.INTERNAL
            return 500, 'application/json', json.dumps(
                {'error': f'{type(error).__name__}: {error}'})
        finally:
            self._api.metrics.record_request(self._api.metric_model(model), api_name, 'REST',
                                             code.name, time.perf_counter() - started)

    def _dispatch(self, method: str, path: str, body: bytes):
        match = _PREDICTION_PATH.fullmatch(path)
        if method == 'POST' and match:
            # Charged for its JSON values before they are parsed, then for what the
            # request they make expands to (serving/admission.py).
            name, version, label, verb = match.groups()
            with self._api.admission.admitted(json_cost(body)) as ticket:
                return self._infer(name, version, label, verb, body, ticket)
        match = _STATUS_PATH.fullmatch(path)
        if method == 'GET' and match:
            name, version, label, metadata = match.groups()
            spec = _model_spec(name, version, label)
            if metadata:
                response = self._api.get_model_metadata(
                    get_model_metadata_pb2.GetModelMetadataRequest(
                        model_spec=spec, metadata_field=['signature_def']))
                signatures = get_model_metadata_pb2.SignatureDefMap()
                response.metadata['signature_def'].Unpack(signatures)
                return 'GetModelMetadata', {
                    'model_spec': json_format.MessageToDict(
                        response.model_spec, including_default_value_fields=True,
                        preserving_proto_field_name=True),
                    'metadata': {'signature_def': json_format.MessageToDict(
                        signatures, preserving_proto_field_name=True)}}
            response = self._api.get_model_status(
                get_model_status_pb2.GetModelStatusRequest(model_spec=spec))
            return 'GetModelStatus', json_format.MessageToDict(
                response, including_default_value_fields=True, preserving_proto_field_name=True)
        raise invalid_argument(f'Malformed request: {method} {path}')

    def _infer(self, name, version, label, verb, body: bytes, ticket):
        spec = _model_spec(name, version, label)
        parsed = _parse_body(body)
        spec.signature_name = parsed.get('signature_name', '')
        servable = self._api.manager.get(spec)
        if verb == 'predict':
            signature_name = _signature_name(spec)
            signature = servable.signature_defs.get(signature_name)
            if signature is None:
                raise invalid_argument(
                    f'Serving signature name: "{signature_name}" not found in signature def')
            if all(i.dtype == types_pb2.DT_STRING for i in signature.inputs.values()):
                # Every value a tf.Example: refused before a tensor is built.
                ticket.grow(json_cost(body, servable.features_per_example))
            request, fmt = predict_request(parsed, spec, signature)
            return 'Predict', predict_json(self._api.predict(request, servable, ticket), fmt)
        if verb == 'classify':
            request = classification_pb2.ClassificationRequest(model_spec=spec)
            _input_proto(parsed, request.input)
            result = self._api.classify(request, servable, ticket).result
            return 'Classify', {'results': [
                [[c.label, c.score] for c in row.classes] for row in result.classifications]}
        request = regression_pb2.RegressionRequest(model_spec=spec)
        _input_proto(parsed, request.input)
        result = self._api.regress(request, servable, ticket).result
        return 'Regress', {'results': [r.value for r in result.regressions]}
