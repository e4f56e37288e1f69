"""The model server's options: one typed object, made by the command line's flag
parser or directly in code (the pipeline's canary), never from argv strings.

Flag names are tensorflow_model_server's, so the same command line works with
either server; each field below is one flag (`--<field>`) with its default and help.
"""

import argparse
import dataclasses
from typing import List, Optional

from common.argument_parser import ArgumentParser

DESCRIPTION = """Serve SavedModels over TF Serving's gRPC and REST APIs.

Takes tensorflow_model_server's flags, so the same command line (and the same
models.config, batching and monitoring files) works with either server. Unlike
tensorflow_model_server, it listens on loopback (127.0.0.1) unless
--bind_address says otherwise (e.g. 0.0.0.0 to accept remote clients).
"""

EXAMPLES = """examples:
  python -m serving.server --model_name chicago_taxi \\
      --model_base_path tfx_home/serving_model/chicago_taxi
  python -m serving.server --model_config_file serving/deploy/models.config \\
      --enable_batching --monitoring_config_file serving/deploy/monitoring.config
"""


def _flag(default, help_text: str):
    return dataclasses.field(default=default, metadata={'help': help_text})


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    port: int = _flag(8500, 'gRPC port (default 8500)')
    rest_api_port: int = _flag(8501, 'REST port (default 8501; 0 disables REST)')
    grpc_socket_path: str = _flag(
        '', 'also serve gRPC on this UNIX socket (clients on the same host: unix:PATH)')
    bind_address: str = _flag(
        '127.0.0.1', 'address to listen on (default 127.0.0.1, loopback only; 0.0.0.0 for all)')
    model_name: str = _flag('default', 'name of the model (with --model_base_path)')
    model_base_path: str = _flag('', 'directory of numbered version subdirectories')
    model_config_file: str = _flag(
        '', 'ModelServerConfig text proto: several models, version policies and labels')
    model_config_file_poll_wait_seconds: int = _flag(
        0, 're-read --model_config_file this often (default 0: never)')
    file_system_poll_wait_seconds: int = _flag(
        1, 'look for new versions this often (default 1; 0: only at start-up)')
    allow_version_labels_for_unavailable_models: bool = _flag(
        False, 'let version labels point at versions that are not loaded')
    enable_batching: bool = _flag(False, 'batch concurrent requests together')
    batching_parameters_file: str = _flag('', 'BatchingParameters text proto')
    monitoring_config_file: str = _flag(
        '', 'MonitoringConfig text proto; enables Prometheus metrics on the REST port')
    ssl_config_file: str = _flag('', 'SSLConfig text proto: TLS for gRPC')
    grpc_max_threads: int = _flag(
        16, 'gRPC inference threads (default 16); health, status and metadata are answered '
            'on the event loop, never behind them')
    rest_api_num_threads: int = _flag(
        64, 'REST inference threads (default 64); connections are served by an event loop '
            'and cost no thread')
    rest_api_timeout_in_ms: int = _flag(
        30000, 'REST: close a connection idle this long or whose headers take longer to '
               'arrive, and answer 408 to a body that takes longer (default 30000)')
    allow_model_config_reload: bool = _flag(
        False, 'accept ModelService.HandleReloadConfigRequest (off: PERMISSION_DENIED); model '
               'base paths and request-log prefixes must then lie under --model_config_roots')
    model_config_roots: str = _flag(
        '', 'comma-separated directories a reloaded config may name (default: those of the '
            "start-up config's base paths and request-log prefixes)")
    allow_unloading_all_models: bool = _flag(
        False, 'accept a reloaded config with no models (it unloads every model)')
    shutdown_grace_seconds: float = _flag(
        10.0, 'on SIGTERM: health NOT_SERVING and new calls UNAVAILABLE at once; calls under '
              'way get this long to finish (default 10)')
    max_message_bytes: int = _flag(
        64 << 20, 'largest request and reply, gRPC and REST (default 64 MiB)')
    max_request_elements: int = _flag(
        1 << 21, 'most elements one request may expand to: tensor elements, a serialized '
                 'tf.Example counting the features parsed from it, JSON values (default '
                 '2097152); more: RESOURCE_EXHAUSTED / 429')
    max_elements_in_flight: int = _flag(
        1 << 22, 'most elements all requests under way may hold together (default 4194304, '
                 'twice the per-request limit); more: RESOURCE_EXHAUSTED / 429')
    max_bytes_in_flight: int = _flag(
        0, 'most bytes of requests received and not yet answered, per port (default 0: '
           'four times --max_message_bytes); more: RESOURCE_EXHAUSTED / 429')
    request_log_max_file_mb: int = _flag(
        64, 'start a new request log file past this size (logging_config in the model config)')
    request_log_max_file_seconds: int = _flag(3600, 'start a new request log file past this age')

    def __post_init__(self):
        if bool(self.model_base_path) == bool(self.model_config_file):
            raise ValueError('give exactly one of --model_base_path and --model_config_file')
        if self.batching_parameters_file and not self.enable_batching:
            raise ValueError('--batching_parameters_file needs --enable_batching')
        if self.rest_api_num_threads < 1 or self.rest_api_timeout_in_ms < 1:
            raise ValueError('--rest_api_num_threads and --rest_api_timeout_in_ms must be '
                             'at least 1')
        if not 1 <= self.max_request_elements <= self.max_elements_in_flight:
            raise ValueError('--max_request_elements must be at least 1 and at most '
                             '--max_elements_in_flight')
        if self.max_bytes_in_flight and self.max_bytes_in_flight < self.max_message_bytes:
            raise ValueError('--max_bytes_in_flight must be at least --max_message_bytes')
        if self.model_config_roots and not self.allow_model_config_reload:
            raise ValueError('--model_config_roots needs --allow_model_config_reload')


def parse_flags(argv: Optional[List[str]] = None) -> ServerOptions:
    parser = ArgumentParser(prog='python -m serving.server', description=DESCRIPTION,
                            epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    for field in dataclasses.fields(ServerOptions):
        flag, text = f'--{field.name}', field.metadata['help']
        if field.type is bool:
            parser.add_argument(flag, action='store_true', help=text)
        else:
            parser.add_argument(flag, type=field.type, default=field.default, help=text)
    try:
        return ServerOptions(**vars(parser.parse_args(argv)))
    except ValueError as error:
        parser.error(str(error))
