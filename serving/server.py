"""`python -m serving.server`: serve SavedModels over TF Serving's gRPC and REST APIs.

Flags are tensorflow_model_server's (see serving/options.py); `build` turns a
ServerOptions into a loaded ServingApi, which the pipeline's canary also uses.
"""

import common.bootstrap  # first: the environment before TensorFlow loads

# isort: split

import logging
import os
import signal
import sys
import threading
from typing import List, Optional

from common.exit_status import ExitStatus
from common.tf_serving import is_url
from serving.options import ServerOptions, parse_flags

log = logging.getLogger('serving.server')


def _server_credentials(path: str):
    import grpc

    from serving.protos import SSLConfig, read_text_proto
    config = read_text_proto(path, SSLConfig)
    return grpc.ssl_server_credentials(
        [(config.server_key.encode(), config.server_cert.encode())],
        root_certificates=config.custom_ca.encode() or None,
        require_client_auth=config.client_verify)


def _prometheus_path(path: str) -> Optional[str]:
    from serving.protos import MonitoringConfig, read_text_proto
    config = read_text_proto(path, MonitoringConfig).prometheus_config
    return (config.path or '/monitoring/prometheus/metrics') if config.enable else None


def build(options: ServerOptions):
    """The API, its model manager and batcher, from the options; loads the models."""
    from tensorflow_serving.config import model_server_config_pb2

    from serving.admission import Admission
    from serving.api import ServingApi
    from serving.batching import Batcher, BatchingOptions
    from serving.manager import ModelManager, model_server_config
    from serving.memory import Trimmer
    from serving.metrics import LOAD_COUNT, Metrics
    from serving.protos import BatchingParameters, read_text_proto
    from serving.reload_policy import ReloadPolicy
    from serving.request_log import RequestLogs

    metrics = Metrics()
    batcher = None
    if options.enable_batching:
        params = (read_text_proto(options.batching_parameters_file, BatchingParameters)
                  if options.batching_parameters_file else None)
        batcher = Batcher(BatchingOptions(params), metrics)
    if options.model_config_file:
        config = read_text_proto(options.model_config_file,
                                 model_server_config_pb2.ModelServerConfig)
    else:
        base_path = options.model_base_path
        config = model_server_config(
            options.model_name, base_path if is_url(base_path) else os.path.abspath(base_path))
    api: Optional[ServingApi] = None

    def warm_up(servable) -> None:
        assert api is not None         # set below, before the first model loads
        api.warm_up(servable)
    manager = ModelManager(
        warmup=warm_up,
        allow_labels_for_unavailable=options.allow_version_labels_for_unavailable_models,
        on_load=lambda model, status: metrics.count(LOAD_COUNT, model_path=model, status=status))
    request_logs = RequestLogs(options.request_log_max_file_mb << 20,
                               options.request_log_max_file_seconds, metrics)
    policy = ReloadPolicy.for_startup(config, options.allow_model_config_reload,
                                      options.model_config_roots,
                                      options.allow_unloading_all_models)
    admission = Admission(options.max_request_elements, options.max_elements_in_flight)
    trimmer = Trimmer(busy=lambda: api is not None and api.calls_under_way() > 0)
    api = ServingApi(manager, metrics, batcher, request_logs, options.max_message_bytes, policy,
                     admission, activity=trimmer.activity)
    manager.reload(config)   # loads every model's versions before serving, as TF Serving does
    return api


def _watch_config_file(api, path: str, seconds: int, stop: threading.Event) -> None:
    from tensorflow_serving.config import model_server_config_pb2

    from serving.protos import read_text_proto

    def loop():
        while not stop.wait(seconds):
            try:
                api.manager.reload(read_text_proto(path, model_server_config_pb2.ModelServerConfig))
            except Exception:  # a bad edit: keep serving what is loaded
                log.exception('Reloading %s failed', path)
    threading.Thread(target=loop, name='config-poll', daemon=True).start()


def serve(options: ServerOptions) -> int:
    """Serves until SIGINT or SIGTERM."""
    from serving.grpc_service import set_serving, start_grpc_server
    from serving.rest import RestApi
    from serving.rest_server import start_rest_server

    api = build(options)
    stop = threading.Event()
    credentials = _server_credentials(options.ssl_config_file) if options.ssl_config_file \
        else None
    prometheus = _prometheus_path(options.monitoring_config_file) \
        if options.monitoring_config_file else None
    try:
        grpc_server, health, port = start_grpc_server(
            api, f'{options.bind_address}:{options.port}', options.grpc_max_threads,
            options.max_message_bytes, credentials, options.grpc_socket_path,
            options.max_bytes_in_flight)
    except (OSError, RuntimeError) as error:
        api.close()
        raise StartError(f'--port {options.port}: cannot listen on {options.bind_address}:'
                         f'{options.port} ({error}): is another server using it?') from None
    log.info('Running gRPC ModelServer at %s:%d ...', options.bind_address, port)
    if options.grpc_socket_path:
        log.info('Running gRPC ModelServer at UNIX socket %s ...', options.grpc_socket_path)
    rest_server = None
    if options.rest_api_port:
        try:
            rest_server = start_rest_server(
                RestApi(api, prometheus), options.bind_address, options.rest_api_port,
                options.max_message_bytes, options.rest_api_num_threads,
                options.rest_api_timeout_in_ms / 1000, options.max_bytes_in_flight)
        except OSError as error:
            grpc_server.stop(grace=None)
            api.close()
            raise StartError(f'--rest_api_port {options.rest_api_port}: cannot listen on '
                             f'{options.bind_address}:{options.rest_api_port} '
                             f'({error.strerror or error}): is another server using it?') from None
        log.info('Exporting HTTP/REST API at %s:%d ...', options.bind_address,
                 rest_server.server_address[1])
    api.manager.run_polling(options.file_system_poll_wait_seconds)
    if options.model_config_file and options.model_config_file_poll_wait_seconds > 0:
        _watch_config_file(api, options.model_config_file,
                           options.model_config_file_poll_wait_seconds, stop)
    set_serving(health, True)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    # Drain: health says NOT_SERVING at once and new calls get UNAVAILABLE (clients
    # retry it) while the calls under way get the grace period to finish.
    log.info('Shutting down: draining for up to %.0f s', options.shutdown_grace_seconds)
    set_serving(health, False)
    finished = api.drain(options.shutdown_grace_seconds)
    log.info('Calls under way %s', 'finished' if finished else 'cut off at the grace period')
    api.manager.stop()
    if rest_server is not None:
        rest_server.shutdown()
    grpc_server.stop(grace=0.5).wait()
    api.close()
    return ExitStatus.DONE


class StartError(Exception):
    """The server cannot start as asked: a path that is not there, a port in use."""


def check_paths(options: ServerOptions) -> None:
    """StartError naming the first flag whose file or directory is missing."""
    files = {'--model_config_file': options.model_config_file,
             '--batching_parameters_file': options.batching_parameters_file,
             '--monitoring_config_file': options.monitoring_config_file,
             '--ssl_config_file': options.ssl_config_file}
    for flag, path in files.items():
        if path and not is_url(path) and not os.path.isfile(path):
            raise StartError(f'{flag} {path}: no such file')
    base = options.model_base_path
    if base and not is_url(base) and not os.path.isdir(base):
        raise StartError(f'--model_base_path {base}: no such directory (it holds the '
                         'numbered versions of the model)')


def main(argv: Optional[List[str]] = None) -> int:
    """Exit codes as the runner's: 0 done, 2 bad flags, paths or ports (one error: line)."""
    options = parse_flags(argv)
    # Before TensorFlow loads (the imports above load none of it) and starts threads.
    environment_set = common.bootstrap.for_model_server()
    from serving.memory import limit_arenas
    limit_arenas()
    logging.basicConfig(level=logging.INFO,
                        format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    if not environment_set:
        log.warning('TensorFlow already loaded: %s not applied',
                    ', '.join(common.bootstrap.MODEL_SERVER_ENVIRONMENT))
    try:
        check_paths(options)
        return serve(options)
    except (StartError, ValueError) as error:     # ValueError: a config file that does not parse
        print(f'error: {error}', file=sys.stderr, flush=True)
        return ExitStatus.USAGE


if __name__ == '__main__':
    sys.exit(main())
