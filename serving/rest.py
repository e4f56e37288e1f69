"""The REST face, with TF Serving's paths, JSON shapes and HTTP status mapping.

  GET  /v1/models/{m}[/versions/{v}|/labels/{l}]             model status
  GET  /v1/models/{m}[/versions/{v}|/labels/{l}]/metadata    signature defs
  POST /v1/models/{m}[/versions/{v}|/labels/{l}]:predict     row ("instances") or
                                                             columnar ("inputs") format
  POST ...:classify, ...:regress                             {"examples": [...], "context": {...}}

Bytes travel as {"b64": "..."}. Errors are {"error": "..."}.
"""

import base64
import functools
import json
import logging
import re
import time
from typing import Any, Dict, FrozenSet, Optional, Tuple

import grpc
import numpy as np
from google.protobuf import json_format
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    predict_pb2,
)

from common import examples
from common.tf_serving import version_number
from serving import example_requests, tensors
from serving.admission import examples_cost, json_cost
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


def _serialized_example(features) -> bytes:
    """A JSON example ({"feature": value or [values], ...}) as a serialized tf.Example,
    written directly (common/examples.py): no message per feature."""
    if not isinstance(features, dict):
        raise invalid_argument(f'An example must be a JSON object, got: {_excerpt(features)}')
    try:
        return examples.serialized({
            name: [_json_bytes(v) if isinstance(v, dict) else v for v in value]
            if isinstance(value, list) else _json_bytes(value) if isinstance(value, dict)
            else value
            for name, value in features.items()})
    except ValueError as error:
        raise invalid_argument(str(error)) from None


# --- Requests --------------------------------------------------------------------

# Keys of a request body itself; every other object is an example, an instance naming
# inputs, or a {"b64": ...} value.
_BODY_KEYS = frozenset({'signature_name', 'instances', 'inputs', 'examples', 'context'})


@functools.lru_cache(maxsize=32)
def _other_keys(names: FrozenSet[str]) -> 're.Pattern[bytes]':
    """A pattern finding, in a JSON text, an object key that is not one of `names`, or any
    key written with an escape (checked once decoded). A key is a string followed by a
    colon: no string value is (in JSON a colon follows keys only)."""
    known = b'|'.join(re.escape(name.encode()) for name in sorted(names, key=len, reverse=True))
    return re.compile(b'"(?!(?:' + known + rb')")[^"\\]*(?:\\.[^"\\]*)*"\s*:')


# The scan goes a window at a time: one regex call holds the GIL throughout (140 ms
# for 8.5 MB), and the event loops answering health wait for it. A key longer than
# the overlap that straddles two windows is left to the check after parsing.
_SCAN_WINDOW, _SCAN_OVERLAP = 1 << 20, 1024


def _unknown_key(body: bytes, names: FrozenSet[str]) -> Optional[str]:
    """The first object key of the body that is none of `names` nor a body's own key
    (a scan in C, no object built: a body naming 300k features the model does not take
    is refused at the first, where parsing it took ~18x its size)."""
    known = _known_keys(names)
    pattern = _other_keys(known)
    start = 0
    while start < len(body):
        end = min(start + _SCAN_WINDOW, len(body))
        found = pattern.search(body, start, end)
        while found is not None:
            quoted = found.group().rstrip(b' \t\r\n:')
            try:
                key = json.loads(quoted)
            except (ValueError, UnicodeDecodeError):
                return None                  # not JSON: the parser will say where
            if key not in known:
                return key
            found = pattern.search(body, found.end(), end)
        start = end if end == len(body) else end - _SCAN_OVERLAP
    return None


@functools.lru_cache(maxsize=32)
def _known_keys(names: FrozenSet[str]) -> FrozenSet[str]:
    """A servable's names with a body's own keys and "b64" (made once per servable)."""
    return names | _BODY_KEYS | {'b64'}


def _parse_body(body: bytes, names: Optional[FrozenSet[str]] = None) -> Dict[str, Any]:
    """The body's JSON object; with `names` (Servable.names_taken), a body whose objects
    name another key is INVALID_ARGUMENT before it is parsed."""
    unknown = _unknown_key(body, names) if names is not None else None
    if names is not None and unknown is not None:
        raise invalid_argument(
            f'The body names "{escaped(unknown, 100)}", which is neither a feature nor an input '
            'any signature of the model takes: leave it out (its features: '
            f'{escaped(", ".join(sorted(names)), 600)})')
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


def _checked_features(listed, taken: Optional[FrozenSet[str]], signature: str) -> None:
    """INVALID_ARGUMENT naming the first example (or the context) with a feature the
    signature does not take, before any example is built."""
    if taken is None:
        return
    for where, features in listed:
        if isinstance(features, dict):
            unknown = features.keys() - taken
            if unknown:
                raise invalid_argument(
                    f'{where} has the feature "{escaped(min(unknown), 100)}", which signature '
                    f'"{signature}" does not take: leave it out (it takes '
                    f'{escaped(", ".join(sorted(taken)), 600)})')


def examples_request(body: Dict[str, Any], spec, raw_type, servable, ticket):
    """A Classify or Regress request (raw_type, serving/example_requests.py) from
    {"examples": [...], "context": {...}}: features the signature does not take are
    refused, the examples admitted by the features they carry, then written as
    serialized tf.Examples (the context once)."""
    listed = body.get('examples')
    if not isinstance(listed, list):
        raise invalid_argument("'examples' must be a list of objects")
    signature = _signature_name(spec)
    named = [(f'Example {index}', features) for index, features in enumerate(listed)]
    if 'context' in body:
        named.insert(0, ('The context', body['context']))
    _checked_features(named, servable.features_taken.get(signature), signature)
    carried = sum(len(features) for _, features in named if isinstance(features, dict))
    context_size = len(body['context']) if isinstance(body.get('context'), dict) else 0
    ticket.grow(examples_cost(len(listed), servable.features_per_example,
                              carried + context_size * max(len(listed) - 1, 0)))
    request = raw_type(model_spec=spec)
    if 'context' in body:
        target = request.input.example_list_with_context
        target.context = _serialized_example(body['context'])
    else:
        target = request.input.example_list
    target.examples.extend([_serialized_example(features) for features in listed])
    return request


class _Encoded:
    """A reply already written as JSON text."""

    def __init__(self, text: str):
        self.text = text


def _classifications_json(classifications) -> _Encoded:
    """{"results": [[[label, score], ...], ...]}, written a row at a time: the nested
    lists of a whole reply of 100k rows took ~3x the request's size."""
    rows = ', '.join(json.dumps([[c.label, c.score] for c in row.classes])
                    for row in classifications)
    return _Encoded(f'{{"results": [{rows}]}}')


class RestApi:
    """Handles one REST request: (method, path, body) -> (HTTP status, JSON or text).
    The transport (serving/rest_server.py) calls it on a thread of its pool for
    inference, on its event loop for the rest (status, metadata, metrics)."""

    def __init__(self, api: ServingApi, prometheus_path: Optional[str]):
        self._api = api
        self._prometheus_path = prometheus_path

    def activity(self) -> None:
        """An inference request arrived or ended (serving/memory.py's Trimmer hears)."""
        self._api.activity()

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
            text = result.text if isinstance(result, _Encoded) else json.dumps(result)
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
        servable = self._api.manager.get(spec)
        parsed = _parse_body(body, servable.names_taken)
        spec.signature_name = parsed.get('signature_name', '')
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
            del parsed         # its Python objects (~5x the body) are not needed past here
            return 'Predict', predict_json(self._api.predict(request, servable, ticket), fmt)
        self._api.check_signature(servable, spec, verb)    # before a single example is built
        raw_type = (example_requests.ClassificationRequest if verb == 'classify'
                    else example_requests.RegressionRequest)
        request = examples_request(parsed, spec, raw_type, servable, ticket)
        del parsed
        if verb == 'classify':
            result = self._api.classify(request, servable, ticket).result
            return 'Classify', _classifications_json(result.classifications)
        result = self._api.regress(request, servable, ticket).result
        return 'Regress', {'results': [r.value for r in result.regressions]}
