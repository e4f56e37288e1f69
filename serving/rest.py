"""The REST face, with TF Serving's paths, JSON shapes and HTTP status mapping.

  GET  /v1/models/{m}[/versions/{v}|/labels/{l}]             model status
  GET  /v1/models/{m}[/versions/{v}|/labels/{l}]/metadata    signature defs
  POST /v1/models/{m}[/versions/{v}|/labels/{l}]:predict     row ("instances") or
                                                             columnar ("inputs") format
  POST ...:classify, ...:regress                             {"examples": [...], "context": {...}}

Bytes travel as {"b64": "..."}. Errors are {"error": "..."}.
"""

import base64
import contextlib
import json
import logging
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
from serving import tensors
from serving.api import ServingApi, _signature_name
from serving.errors import ServingError, invalid_argument
from serving.http_body import BodyError, BodyReader, read_body

log = logging.getLogger(__name__)

_MODEL = r'/v1/models/([^/:]+)'
_VERSION = r'(?:/versions/(\d+)|/labels/([^/:]+))?'
_PREDICTION_PATH = re.compile(_MODEL + _VERSION + r':(classify|regress|predict)', re.IGNORECASE)
_STATUS_PATH = re.compile(_MODEL + _VERSION + r'(/metadata)?', re.IGNORECASE)
_MODEL_PATH = re.compile(_MODEL, re.IGNORECASE)  # failures count under the model too


MAX_VERSION = (1 << 63) - 1      # versions are int64


def _excerpt(value, limit: int = 80) -> str:
    """A JSON value as an error message may quote it: never the whole of a large body."""
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit] + '...'


def _model_spec(name: str, version: Optional[str], label: Optional[str]) -> model_pb2.ModelSpec:
    spec = model_pb2.ModelSpec(name=name)
    if version is not None:
        if int(version) > MAX_VERSION:
            raise invalid_argument(f'Invalid version: {version[:30]} is not a 64-bit integer')
        spec.version.value = int(version)
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


def predict_request(body: Dict[str, Any], spec, signature) -> Tuple[predict_pb2.PredictRequest, str]:
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
    """Handles one REST request: (method, path, body) -> (HTTP status, JSON or text)."""

    def __init__(self, api: ServingApi, prometheus_path: Optional[str]):
        self._api = api
        self._prometheus_path = prometheus_path

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
            return 200, 'application/json', json.dumps(result)
        except ServingError as error:
            code = error.code
            log.info('REST %s %s: %s: %s', method, path[:200], code.name, error.message)
            return error.http_status, 'application/json', json.dumps({'error': error.message})
        except Exception as error:  # a bug, not a bad request: answer and keep serving
            log.exception('REST %s %s failed', method, path)
            code = grpc.StatusCode.INTERNAL
            return 500, 'application/json', json.dumps({'error': f'{type(error).__name__}: {error}'})
        finally:
            self._api.metrics.record_request(self._api.metric_model(model), api_name, 'REST',
                                             code.name, time.perf_counter() - started)

    def _dispatch(self, method: str, path: str, body: bytes):
        match = _PREDICTION_PATH.fullmatch(path)
        if method == 'POST' and match:
            name, version, label, verb = match.groups()
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
                request, fmt = predict_request(parsed, spec, signature)
                response = self._api.log_request('predict', request,
                                                 self._api.predict_on(servable, request))
                return 'Predict', predict_json(response, fmt)
            if verb == 'classify':
                request = classification_pb2.ClassificationRequest(model_spec=spec)
                _input_proto(parsed, request.input)
                result = self._api.log_request(
                    'classify', request, self._api.classify_on(servable, request)).result
                return 'Classify', {'results': [
                    [[c.label, c.score] for c in row.classes] for row in result.classifications]}
            request = regression_pb2.RegressionRequest(model_spec=spec)
            _input_proto(parsed, request.input)
            result = self._api.log_request(
                'regress', request, self._api.regress_on(servable, request)).result
            return 'Regress', {'results': [r.value for r in result.regressions]}
        match = _STATUS_PATH.fullmatch(path)
        if method == 'GET' and match:
            name, version, label, metadata = match.groups()
            spec = _model_spec(name, version, label)
            if metadata:
                response = self._api.get_model_metadata(get_model_metadata_pb2.GetModelMetadataRequest(
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


class _Watchdog:
    """Closes connections whose request has run past its deadline: one thread for
    all, so that a client trickling its headers or body byte by byte, or holding an
    idle connection, cannot keep a server thread forever."""

    def __init__(self):
        self._deadlines: Dict[socket.socket, float] = {}
        self._lock = threading.Lock()
        threading.Thread(target=self._loop, name='rest-watchdog', daemon=True).start()

    def arm(self, connection: socket.socket, deadline: float) -> None:
        with self._lock:
            self._deadlines[connection] = deadline

    def disarm(self, connection: socket.socket) -> None:
        with self._lock:
            self._deadlines.pop(connection, None)

    def _loop(self) -> None:
        while True:
            time.sleep(0.25)
            now = time.monotonic()
            with self._lock:
                late = [c for c, deadline in self._deadlines.items() if deadline < now]
                for connection in late:
                    del self._deadlines[connection]
            for connection in late:
                with contextlib.suppress(OSError):   # closed by its handler meanwhile
                    connection.shutdown(socket.SHUT_RDWR)


# After an answer sent before the request's body was read: how long, and how much
# of the rest of it, to read and drop before the socket closes.
LINGER_SECONDS = 2.0
LINGER_BYTES = 64 << 20


def linger(connection: socket.socket, seconds: float = LINGER_SECONDS,
           max_bytes: int = LINGER_BYTES) -> None:
    """Stop sending, then drop what the client still sends, within bounds of time and
    size. A socket closed with bytes unread is reset by the kernel, and a client
    still writing its body then sees the reset instead of the answer (nginx's
    lingering close does the same)."""
    deadline = time.monotonic() + seconds
    dropped = 0
    with contextlib.suppress(OSError):      # the client hung up or reset: nothing to wait for
        connection.shutdown(socket.SHUT_WR)
        while dropped < max_bytes and time.monotonic() < deadline:
            connection.settimeout(deadline - time.monotonic())
            chunk = connection.recv(1 << 16)
            if not chunk:
                return
            dropped += len(chunk)


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer with a bounded number of connection threads (more
    connections wait in a deep listen backlog rather than being reset) and the
    watchdog above."""

    request_queue_size = 1024
    daemon_threads = True

    def __init__(self, address, handler, num_threads: int):
        self._slots = threading.BoundedSemaphore(num_threads)
        self.watchdog = _Watchdog()
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        self._slots.acquire()      # all threads busy: the next connections wait in the backlog
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request, client_address):
        """A connection that broke (reset, timed out): one line, not a traceback on stderr."""
        log.debug('REST connection from %s ended: %s', client_address[0], sys.exc_info()[1])


def start_rest_server(rest: RestApi, host: str, port: int, max_body_bytes: int,
                      num_threads: int = 64, timeout_seconds: float = 30.0):
    """Serves REST on host:port in background threads; returns the server."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'   # keep-alive, as clients expect
        _answered_early = False         # refused before its body was read (see linger)
        timeout = timeout_seconds       # each wait for bytes (an idle keep-alive too)

        def setup(self):
            super().setup()
            # Headers and body go out as two writes; without this, Nagle's algorithm
            # holds the body back until the client's delayed ACK (40 ms).
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def finish(self):
            super().finish()
            if self._answered_early:
                linger(self.connection)

        def handle_one_request(self):
            # The whole request - waiting for it, reading it, answering - in the time allowed.
            self._deadline = time.monotonic() + timeout_seconds
            self.server.watchdog.arm(self.connection, self._deadline)
            try:
                super().handle_one_request()
            finally:
                self.server.watchdog.disarm(self.connection)
                self.connection.settimeout(timeout_seconds)

        def _respond(self, status: int, content_type: str, text: str) -> None:
            payload = text.encode()
            self.send_response(status)
            self.send_header('Content-Type', content_type)
            self.send_header('Content-Length', str(len(payload)))
            if self.close_connection:
                self.send_header('Connection', 'close')
            self.end_headers()
            self.wfile.write(payload)

        def _serve(self, method: str) -> None:
            try:
                body = read_body(self.headers, method,
                                 BodyReader(self.rfile, self.connection, self._deadline),
                                 max_body_bytes)
            except BodyError as error:      # the framing is lost: answer, then hang up
                self.close_connection = self._answered_early = True
                log.info('REST %s: %d: %s', method, error.status, error.message)
                self._respond(error.status, 'application/json',
                              json.dumps({'error': error.message}))
                return
            self._respond(*rest.handle(method, self.path.split('?', 1)[0], body))

        def do_GET(self):  # noqa: N802 (http.server's naming)
            self._serve('GET')

        def do_POST(self):  # noqa: N802
            self._serve('POST')

        def log_message(self, fmt, *args):  # access log at debug level, not stderr
            log.debug('%s - %s', self.address_string(), fmt % args)

    server = _Server((host, port), Handler, num_threads)
    threading.Thread(target=server.serve_forever, name='rest', daemon=True).start()
    return server
