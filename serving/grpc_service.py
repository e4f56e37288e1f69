"""The gRPC face: PredictionService, ModelService and grpc.health.v1 on one server."""

import logging
import time
from concurrent import futures
from typing import Optional

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from serving.api import ServingApi
from serving.errors import ServingError

log = logging.getLogger(__name__)


def _model_name(request) -> str:
    """The model a request is for; MultiInference names it in its tasks, not at the top."""
    spec = getattr(request, 'model_spec', None)
    if spec is None and getattr(request, 'tasks', None):
        spec = request.tasks[0].model_spec
    return spec.name if spec is not None else ''


def handle(api: ServingApi, method, request, context, api_name: str):
    """Calls an API method; errors become the call's status. Nothing escapes to kill
    the server: a bad request is one log line; an unexpected exception (the server's
    own fault) is answered as INTERNAL and logged with its traceback."""
    started = time.perf_counter()
    code = grpc.StatusCode.OK
    try:
        with api.serving_call():
            return method(request)
    except ServingError as error:
        code = error.code
        log.info('%s: %s: %s', api_name, code.name, error.message)
        context.abort(error.code, error.message)
    except Exception as error:  # a bug, not a bad request: keep serving
        log.exception('%s failed', api_name)
        code = grpc.StatusCode.INTERNAL
        context.abort(code, f'{type(error).__name__}: {error}')
    finally:
        api.metrics.record_request(api.metric_model(_model_name(request)), api_name, 'GRPC',
                                   code.name, time.perf_counter() - started)


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, api: ServingApi):
        self._api = api

    def Predict(self, request, context):
        return handle(self._api, self._api.predict, request, context, 'Predict')

    def Classify(self, request, context):
        return handle(self._api, self._api.classify, request, context, 'Classify')

    def Regress(self, request, context):
        return handle(self._api, self._api.regress, request, context, 'Regress')

    def MultiInference(self, request, context):
        return handle(self._api, self._api.multi_inference, request, context, 'MultiInference')

    def GetModelMetadata(self, request, context):
        return handle(self._api, self._api.get_model_metadata, request, context,
                      'GetModelMetadata')


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, api: ServingApi):
        self._api = api

    def GetModelStatus(self, request, context):
        return handle(self._api, self._api.get_model_status, request, context,
                      'GetModelStatus')

    def HandleReloadConfigRequest(self, request, context):
        return handle(self._api, self._api.reload_config, request, context, 'HandleReloadConfigRequest')


def start_grpc_server(api: ServingApi, address: str, max_threads: int, max_message_bytes: int,
                      credentials: Optional[grpc.ServerCredentials] = None,
                      socket_path: str = ''):
    """Starts serving on address ('host:port') and, if given, the UNIX socket
    socket_path; returns (server, health servicer, port)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix='grpc'),
        options=[('grpc.max_receive_message_length', max_message_bytes),
                 ('grpc.max_send_message_length', max_message_bytes),
                 ('grpc.so_reuseport', 0)])
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(api), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(api), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)

    def bind(where: str) -> int:
        bound = (server.add_secure_port(where, credentials) if credentials
                 else server.add_insecure_port(where))
        if bound == 0:
            raise OSError(f'could not bind gRPC to {where}')
        return bound
    port = bind(address)
    if socket_path:
        bind(f'unix:{socket_path}')
    server.start()
    return server, health_servicer, port


def set_serving(health_servicer, serving: bool) -> None:
    """Health status for the server ('') and for each service it offers."""
    status = (health_pb2.HealthCheckResponse.SERVING if serving
              else health_pb2.HealthCheckResponse.NOT_SERVING)
    for service in ('', 'tensorflow.serving.PredictionService', 'tensorflow.serving.ModelService'):
        health_servicer.set(service, status)
