"""`python -m serving.server`: serve SavedModels over TF Serving's gRPC and REST APIs.

Takes tensorflow_model_server's flags, so the same command line (and the same
models.config, batching and monitoring files) works with either server. Unlike
tensorflow_model_server, it listens on loopback (127.0.0.1) unless
--bind_address says otherwise (e.g. 0.0.0.0 to accept remote clients).
"""

import argparse
import logging
import os
import signal
import sys
import threading
from typing import List, Optional

# Before TensorFlow is imported: models exported by this project use Keras 2.
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '1')

log = logging.getLogger('serving.server')


def parse_flags(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='python -m serving.server', description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add('--port', type=int, default=8500, help='gRPC port (default 8500)')
    add('--rest_api_port', type=int, default=8501, help='REST port (default 8501; 0 disables REST)')
    add('--grpc_socket_path', default='',
        help='also serve gRPC on this UNIX socket (clients on the same host: unix:PATH)')
    add('--bind_address', default='127.0.0.1',
        help='address to listen on (default 127.0.0.1, loopback only; 0.0.0.0 for all)')
    add('--model_name', default='default', help='name of the model (with --model_base_path)')
    add('--model_base_path', default='', help='directory of numbered version subdirectories')
    add('--model_config_file', default='',
        help='ModelServerConfig text proto: several models, version policies and labels')
    add('--model_config_file_poll_wait_seconds', type=int, default=0,
        help='re-read --model_config_file this often (default 0: never)')
    add('--file_system_poll_wait_seconds', type=int, default=1,
        help='look for new versions this often (default 1; 0: only at start-up)')
    add('--allow_version_labels_for_unavailable_models', action='store_true',
        help='let version labels point at versions that are not loaded')
    add('--enable_batching', action='store_true', help='batch concurrent requests together')
    add('--batching_parameters_file', default='', help='BatchingParameters text proto')
    add('--monitoring_config_file', default='',
        help='MonitoringConfig text proto; enables Prometheus metrics on the REST port')
    add('--ssl_config_file', default='', help='SSLConfig text proto: TLS for gRPC')
    add('--grpc_max_threads', type=int, default=16, help='gRPC worker threads (default 16)')
    add('--max_message_bytes', type=int, default=64 << 20,
        help='largest request accepted, gRPC and REST (default 64 MiB)')
    add('--request_log_max_file_mb', type=int, default=64,
        help='start a new request log file past this size (logging_config in the model config)')
    add('--request_log_max_file_seconds', type=int, default=3600,
        help='start a new request log file past this age')
    flags = parser.parse_args(argv)
    if bool(flags.model_base_path) == bool(flags.model_config_file):
        parser.error('give exactly one of --model_base_path and --model_config_file')
    if flags.batching_parameters_file and not flags.enable_batching:
        parser.error('--batching_parameters_file needs --enable_batching')
    return flags


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


def build(flags):
    """The API, its model manager and batcher, from the flags; loads the models."""
    from tensorflow_serving.config import model_server_config_pb2

    from serving.api import ServingApi
    from serving.batching import Batcher, BatchingOptions
    from serving.manager import ModelManager, model_server_config
    from serving.metrics import LOAD_COUNT, Metrics
    from serving.protos import BatchingParameters, read_text_proto
    from serving.request_log import RequestLogs

    metrics = Metrics()
    batcher = None
    if flags.enable_batching:
        params = (read_text_proto(flags.batching_parameters_file, BatchingParameters)
                  if flags.batching_parameters_file else None)
        batcher = Batcher(BatchingOptions(params), metrics)
    if flags.model_config_file:
        config = read_text_proto(flags.model_config_file, model_server_config_pb2.ModelServerConfig)
    else:
        config = model_server_config(flags.model_name, os.path.abspath(flags.model_base_path))
    api = None
    manager = ModelManager(
        warmup=lambda servable: api.warm_up(servable),
        allow_labels_for_unavailable=flags.allow_version_labels_for_unavailable_models,
        on_load=lambda model, status: metrics.count(LOAD_COUNT, model_path=model, status=status))
    request_logs = RequestLogs(flags.request_log_max_file_mb << 20,
                               flags.request_log_max_file_seconds)
    api = ServingApi(manager, metrics, batcher, request_logs)
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


def main(argv: Optional[List[str]] = None) -> int:
    flags = parse_flags(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    from serving.grpc_service import set_serving, start_grpc_server
    from serving.rest import RestApi, start_rest_server

    api = build(flags)
    stop = threading.Event()
    credentials = _server_credentials(flags.ssl_config_file) if flags.ssl_config_file else None
    grpc_server, health, port = start_grpc_server(
        api, f'{flags.bind_address}:{flags.port}', flags.grpc_max_threads,
        flags.max_message_bytes, credentials, flags.grpc_socket_path)
    log.info('Running gRPC ModelServer at %s:%d ...', flags.bind_address, port)
    if flags.grpc_socket_path:
        log.info('Running gRPC ModelServer at UNIX socket %s ...', flags.grpc_socket_path)
    rest_server = None
    if flags.rest_api_port:
        prometheus = _prometheus_path(flags.monitoring_config_file) \
            if flags.monitoring_config_file else None
        rest_server = start_rest_server(RestApi(api, prometheus), flags.bind_address,
                                        flags.rest_api_port, flags.max_message_bytes)
        log.info('Exporting HTTP/REST API at %s:%d ...', flags.bind_address,
                 rest_server.server_address[1])
    api.manager.run_polling(flags.file_system_poll_wait_seconds)
    if flags.model_config_file and flags.model_config_file_poll_wait_seconds > 0:
        _watch_config_file(api, flags.model_config_file, flags.model_config_file_poll_wait_seconds,
                           stop)
    set_serving(health, True)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    log.info('Shutting down')
    set_serving(health, False)
    api.manager.stop()
    if rest_server is not None:
        rest_server.shutdown()
    grpc_server.stop(grace=5).wait()
    api.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
