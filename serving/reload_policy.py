"""Who may change what the server serves: the policy of ModelService's
HandleReloadConfigRequest, the one admin RPC.

TF Serving accepts any reload from anyone who reaches the port: a config may
point a model at any directory, write request logs anywhere, or unload every
model. Here the RPC is refused (PERMISSION_DENIED) unless the server was
started with --allow_model_config_reload; even then every model base path
and every request-log prefix must lie under an allowed root (the directories
of the start-up config's base paths and log prefixes, or --model_config_roots),
and a config with no models is refused unless --allow_unloading_all_models.
The config file the operator gives (--model_config_file, re-read with
--model_config_file_poll_wait_seconds) is trusted as it is.
"""

import dataclasses
import os
from typing import Iterable, Tuple

import grpc

from common.tf_serving import is_url
from serving.errors import ServingError, failed_precondition


def _normalized(path: str) -> str:
    return path.rstrip('/') if is_url(path) else os.path.realpath(path)


def _under(path: str, root: str) -> bool:
    path, root = _normalized(path), _normalized(root)
    return path == root or path.startswith(root.rstrip('/') + '/')


def _denied(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.PERMISSION_DENIED, message)


def paths_of(config) -> Iterable[Tuple[str, str]]:
    """(what, path) of every location a ModelServerConfig names."""
    for model in config.model_config_list.config:
        yield f'model {model.name} base_path', model.base_path
        prefix = model.logging_config.log_collector_config.filename_prefix
        if prefix:
            yield f'model {model.name} request-log prefix', prefix


@dataclasses.dataclass(frozen=True)
class ReloadPolicy:
    enabled: bool = False
    roots: Tuple[str, ...] = ()
    allow_unloading_all: bool = False

    @classmethod
    def for_startup(cls, config, enabled: bool, roots: str, allow_unloading_all: bool):
        """The policy with the start-up config's directories as roots, unless given."""
        given = tuple(r for r in roots.split(',') if r)
        found = tuple(sorted({os.path.dirname(path.rstrip('/')) for _, path in paths_of(config)}))
        return cls(enabled, given or found, allow_unloading_all)

    def check(self, config) -> None:
        """ServingError unless the reload is allowed."""
        if not self.enabled:
            raise _denied('HandleReloadConfigRequest is disabled on this server; start it with '
                          '--allow_model_config_reload to accept reloads')
        if config.WhichOneof('config') == 'model_config_list' and \
                not config.model_config_list.config and not self.allow_unloading_all:
            raise failed_precondition('the config lists no models: it would unload every model '
                                      '(start the server with --allow_unloading_all_models)')
        for what, path in paths_of(config):
            if not any(_under(path, root) for root in self.roots):
                raise _denied(f'{what} {path} is outside the directories reloads may name '
                              f'({", ".join(self.roots)}; --model_config_roots)')
