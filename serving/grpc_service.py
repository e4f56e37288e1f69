"""The gRPC face: PredictionService, ModelService and grpc.health.v1 on one server.

The server is grpc.aio's, on an event loop of its own (serving/event_loop.py).
Health checks, model status and metadata are answered on the loop: they never
wait behind inference. Predict, Classify, Regress and MultiInference take the
request's bytes as they came; a thread of the inference pool parses, admits
(serving/admission.py), runs and serializes them, so that a large message never
holds the loop. ReloadConfig, which loads models, has a thread of its own.
"""

import asyncio
import contextlib
import logging
import threading
import time
from concurrent import futures
from typing import Callable, Optional

import grpc
from google.protobuf.message import DecodeError
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    predict_pb2,
)

from serving import example_requests
from serving.admission import ByteBudget
from serving.api import ServingApi
from serving.errors import ServingError, invalid_argument
from serving.event_loop import LoopThread, inference_pool

log = logging.getLogger(__name__)

PREDICTION_SERVICE = 'tensorflow.serving.PredictionService'
MODEL_SERVICE = 'tensorflow.serving.ModelService'


def _model_name(request) -> str:
    """The model a request is for; MultiInference names it in its tasks, not at the top."""
    spec = getattr(request, 'model_spec', None)
    if spec is None and getattr(request, 'tasks', None):
        spec = request.tasks[0].model_spec
    return spec.name if spec is not None else ''


# A Predict at most this large, expanding to at most INLINE_ELEMENTS, runs on the event
# loop itself: handing a batch-1 call to a pool thread and its answer back cost more
# than the call's own work (bench/README.md). Bigger ones go to the pool.
INLINE_MAX_BYTES = 4096


def serve_call(api: ServingApi, method: Callable, request_type, raw: bytes,
               api_name: str, on_loop: bool = False) -> Optional[bytes]:
    """One call, from the request's bytes to the response's. Errors are ServingErrors:
    a bad request is one log line; an unexpected exception (the server's own fault)
    becomes INTERNAL, logged with its traceback. Nothing escapes to kill the server.

    On the event loop (on_loop) it takes no Python-work slot, and `method` may
    return None (the call is too costly for the loop): None then, nothing counted."""
    started = time.perf_counter()
    code, request, counted = grpc.StatusCode.OK, None, True
    try:
        with contextlib.nullcontext() if on_loop else api.python_work.slot():
            try:
                request = request_type.FromString(raw)
            except DecodeError:
                raise invalid_argument(f'The request is not a serialized '
                                       f'tensorflow.serving.{request_type.DESCRIPTOR.name}') \
                    from None
            with api.serving_call():
                response = method(request)
            if response is None:
                counted = False
                return None
            return response.SerializeToString()
    except ServingError as error:
        code = error.code
        log.info('%s: %s: %s', api_name, code.name, error.message)
        raise
    except Exception as error:  # a bug, not a bad request: keep serving
        log.exception('%s failed', api_name)
        code = grpc.StatusCode.INTERNAL
        raise ServingError(code, f'{type(error).__name__}: {error}') from None
    finally:
        if counted:
            model = _model_name(request) if request is not None else ''
            api.metrics.record_request(api.metric_model(model), api_name, 'GRPC', code.name,
                                       time.perf_counter() - started)


class _Methods:
    """The method handlers, bound to the API, the pools and the byte budget."""

    def __init__(self, api: ServingApi, inference: futures.Executor, admin: futures.Executor,
                 budget: ByteBudget):
        self._api, self._inference, self._admin, self._budget = api, inference, admin, budget

    def on_loop(self, method, request_type, api_name: str):
        """A cheap call, answered on the loop."""
        async def behavior(raw: bytes, context):
            try:
                return serve_call(self._api, method, request_type, raw, api_name, on_loop=True)
            except ServingError as error:
                await context.abort(error.code, error.message)
        return grpc.unary_unary_rpc_method_handler(behavior)

    def on_pool(self, method, request_type, api_name: str, admin: bool = False,
                light: Optional[Callable] = None):
        """A call that does real work, on a pool thread; its bytes count against the
        budget of bytes in flight from the moment it arrives. With `light`, a small one
        runs on the loop instead when light(request) does (returns not None)."""
        pool = self._admin if admin else self._inference

        async def behavior(raw: bytes, context):
            self._api.activity()
            if light is not None and len(raw) <= INLINE_MAX_BYTES:
                try:
                    answer = serve_call(self._api, light, request_type, raw, api_name,
                                        on_loop=True)
                except ServingError as error:
                    await context.abort(error.code, error.message)
                if answer is not None:
                    return answer          # else too costly for the loop: to the pool
            try:
                self._budget.take(len(raw))
            except ServingError as error:
                log.info('%s: %s: %s', api_name, error.code.name, error.message)
                self._api.metrics.record_request(self._api.metric_model(''), api_name, 'GRPC',
                                                 error.code.name, 0.0)
                await context.abort(error.code, error.message)
            try:
                return await asyncio.get_running_loop().run_in_executor(
                    pool, serve_call, self._api, method, request_type, raw, api_name)
            except ServingError as error:
                await context.abort(error.code, error.message)
            finally:
                self._budget.give(len(raw))
                self._api.activity()
        return grpc.unary_unary_rpc_method_handler(behavior)


def _handlers(methods: _Methods, api: ServingApi):
    prediction = {
        'Predict': methods.on_pool(api.predict, predict_pb2.PredictRequest, 'Predict',
                                   light=api.predict_if_light),
        # Their examples stay serialized: see serving/example_requests.py.
        'Classify': methods.on_pool(api.classify, example_requests.ClassificationRequest,
                                    'Classify'),
        'Regress': methods.on_pool(api.regress, example_requests.RegressionRequest, 'Regress'),
        'MultiInference': methods.on_pool(api.multi_inference,
                                          example_requests.MultiInferenceRequest,
                                          'MultiInference'),
        'GetModelMetadata': methods.on_loop(
            api.get_model_metadata, get_model_metadata_pb2.GetModelMetadataRequest,
            'GetModelMetadata'),
    }
    model = {
        'GetModelStatus': methods.on_loop(
            api.get_model_status, get_model_status_pb2.GetModelStatusRequest, 'GetModelStatus'),
        'HandleReloadConfigRequest': methods.on_pool(
            api.reload_config, model_management_pb2.ReloadConfigRequest,
            'HandleReloadConfigRequest', admin=True),
    }
    return (grpc.method_handlers_generic_handler(PREDICTION_SERVICE, prediction),
            grpc.method_handlers_generic_handler(MODEL_SERVICE, model))


class Health:
    """grpc.health.v1's servicer on the server's loop, set from any thread."""

    def __init__(self, loop: LoopThread, servicer: health_aio.HealthServicer):
        self._loop, self._servicer = loop, servicer

    def set_serving(self, serving: bool) -> None:
        status = (health_pb2.HealthCheckResponse.SERVING if serving
                  else health_pb2.HealthCheckResponse.NOT_SERVING)
        for service in ('', PREDICTION_SERVICE, MODEL_SERVICE):
            self._loop.run(self._servicer.set(service, status), timeout=10)


class GrpcServer:
    """A running server: its loop, pools and port. stop() ends all of them."""

    def __init__(self, loop: LoopThread, server, pools):
        self._loop, self._server, self._pools = loop, server, pools

    def stop(self, grace: Optional[float] = None) -> threading.Event:
        """Stops accepting calls, lets those under way run for `grace` seconds, and
        returns once stopped (the event returned is set, for callers that wait)."""
        self._loop.run(self._server.stop(grace))
        for pool in self._pools:
            pool.shutdown(wait=False)
        self._loop.stop()
        stopped = threading.Event()
        stopped.set()
        return stopped


async def _start(api, address, max_message_bytes, credentials, socket_path, methods):
    server = grpc.aio.server(options=[('grpc.max_receive_message_length', max_message_bytes),
                                      ('grpc.max_send_message_length', max_message_bytes),
                                      ('grpc.so_reuseport', 0)])
    server.add_generic_rpc_handlers(_handlers(methods, api))
    servicer = health_aio.HealthServicer()
    await servicer.set('', health_pb2.HealthCheckResponse.NOT_SERVING)  # until set_serving
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)

    def bind(where: str) -> int:
        try:
            bound = (server.add_secure_port(where, credentials) if credentials
                     else server.add_insecure_port(where))
        except RuntimeError as error:
            raise OSError(f'could not bind gRPC to {where}: {error}') from None
        if bound == 0:
            raise OSError(f'could not bind gRPC to {where}')
        return bound
    port = bind(address)
    if socket_path:
        bind(f'unix:{socket_path}')
    await server.start()
    return server, servicer, port


def start_grpc_server(api: ServingApi, address: str, max_threads: int, max_message_bytes: int,
                      credentials: Optional[grpc.ServerCredentials] = None,
                      socket_path: str = '', max_bytes_in_flight: int = 0):
    """Starts serving on address ('host:port') and, if given, the UNIX socket
    socket_path; returns (server, health, port). max_threads sizes the inference
    pool; max_bytes_in_flight (default 4 x max_message_bytes) bounds the bytes of
    the requests received and not yet answered."""
    loop = LoopThread('grpc-loop')
    inference = inference_pool(max_threads, 'grpc')
    admin = futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix='grpc-admin')
    budget = ByteBudget(max_bytes_in_flight or 4 * max_message_bytes, '--max_bytes_in_flight')
    methods = _Methods(api, inference, admin, budget)
    try:
        server, servicer, port = loop.run(
            _start(api, address, max_message_bytes, credentials, socket_path, methods), 60)
    except BaseException:
        loop.stop()
        inference.shutdown(wait=False)
        admin.shutdown(wait=False)
        raise
    return GrpcServer(loop, server, (inference, admin)), Health(loop, servicer), port


def set_serving(health: Health, serving: bool) -> None:
    """Health status for the server ('') and for each service it offers."""
    health.set_serving(serving)
