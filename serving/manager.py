"""Which model versions are loaded: TF Serving's file-system source, version
policies, labels and version states, in one place.

A version directory (`<base_path>/<number>/`) counts once its saved_model.pb
exists: TFX's Pusher writes that file last. A new version is loaded and warmed
up before it takes traffic; the version it replaces leaves only after that, and
requests already holding it finish on it. A version that fails to load is
reported and never serves; the previous one keeps serving.
"""

import dataclasses
import gc
import logging
import os
import threading
import time
from typing import Callable, Dict, List, Optional

import grpc
import tensorflow as tf
from tensorflow_serving.apis import model_pb2
from tensorflow_serving.config import model_server_config_pb2

from common.tf_serving import SAVED_MODEL_FILE, version_dirs
from serving.errors import ServingError, escaped, invalid_argument, not_found
from serving.memory import return_free_memory
from serving.servable import Servable

log = logging.getLogger(__name__)


# GetModelStatus states (tensorflow_serving/apis/get_model_status.proto).
START, LOADING, AVAILABLE, UNLOADING, END = 'START', 'LOADING', 'AVAILABLE', 'UNLOADING', 'END'


@dataclasses.dataclass
class VersionState:
    state: str
    error: Optional[ServingError] = None


def model_server_config(name: str, base_path: str) -> model_server_config_pb2.ModelServerConfig:
    """The config tensorflow_model_server builds from --model_name/--model_base_path."""
    config = model_server_config_pb2.ModelServerConfig()
    config.model_config_list.config.add(name=name, base_path=base_path, model_platform='tensorflow')
    return config


def _model_configs(config) -> Dict[str, model_server_config_pb2.ModelConfig]:
    if config.WhichOneof('config') != 'model_config_list':
        raise invalid_argument('ModelServerConfig must contain a model_config_list')
    models = {}
    for model in config.model_config_list.config:
        if not model.name or not model.base_path:
            raise invalid_argument(f'Every model needs a name and a base_path: {model}')
        if model.name in models:
            raise invalid_argument(
                f'Illegal to list model {model.name} multiple times in config list')
        if model.model_platform not in ('', 'tensorflow'):
            raise invalid_argument(
                f'Model {model.name}: unsupported platform {model.model_platform}')
        models[model.name] = model
    return models


def wanted_versions(policy, candidates: List[int]) -> List[int]:
    """The versions a ServableVersionPolicy keeps (default: the latest one)."""
    kind = policy.WhichOneof('policy_choice')
    if kind == 'all':
        return sorted(candidates)
    if kind == 'specific':
        return sorted(set(candidates) & set(policy.specific.versions))
    count = policy.latest.num_versions if kind == 'latest' and policy.latest.num_versions else 1
    return sorted(candidates)[-count:]


class ModelManager:
    """Loads, serves and unloads versions per the ModelServerConfig given to reload()."""

    def __init__(self, warmup: Callable[[Servable], None],
                 allow_labels_for_unavailable: bool = False,
                 on_load: Callable[[str, str], None] = lambda model, status: None):
        self._warmup = warmup
        self._allow_labels_for_unavailable = allow_labels_for_unavailable
        self._on_load = on_load
        self._lock = threading.RLock()        # one poll or reload at a time
        self._models: Dict[str, model_server_config_pb2.ModelConfig] = {}   # set by reload()
        self._labels: Dict[str, Dict[str, int]] = {}
        self._states: Dict[str, Dict[int, VersionState]] = {}
        self._failed: Dict[str, Dict[int, int]] = {}   # version -> saved_model.pb mtime
        # Readers take this mapping without a lock; writers replace it whole.
        self._available: Dict[str, Dict[int, Servable]] = {}
        self._stopping = threading.Event()
        self._collections_due = 0
        self._warned: set = set()     # version directories already reported as unusable

    # --- reading (request path) ---------------------------------------------

    def get(self, spec: model_pb2.ModelSpec) -> Servable:
        """The servable a request's ModelSpec names, with TF Serving's errors."""
        versions = self._available.get(spec.name, {})
        which = spec.WhichOneof('version_choice')
        version: Optional[int]
        if which == 'version_label':
            version = self._label_version(spec.name, spec.version_label)
            request = f'Specific({spec.name}, {version})'
        elif which == 'version':
            version = spec.version.value
            request = f'Specific({spec.name}, {version})'
        else:
            version = max(versions) if versions else None
            request = f'Latest({spec.name})'
        if version not in versions:
            raise not_found(f'Servable not found for request: {request}')
        return versions[version]

    def model_config(self, name: str):
        """The ModelConfig a model is served under, or None."""
        return self._models.get(name)

    def _label_version(self, model: str, label: str) -> int:
        version = self._labels.get(model, {}).get(label)
        if version is None:
            raise invalid_argument(f'Unrecognized servable version label: {label}')
        return version

    def status(self, spec: model_pb2.ModelSpec) -> Dict[int, VersionState]:
        """Version -> state for GetModelStatus, newest first."""
        if not spec.name:
            raise invalid_argument('Missing model name in request.')
        states = dict(self._states.get(spec.name, {}))
        if not states:
            raise not_found(f'Could not find any versions of model {spec.name}')
        which = spec.WhichOneof('version_choice')
        if which:
            version = (spec.version.value if which == 'version'
                       else self._label_version(spec.name, spec.version_label))
            if version not in states:
                raise not_found(f'Could not find version {version} of model {spec.name}')
            states = {version: states[version]}
        return dict(sorted(states.items(), reverse=True))

    # --- changing (poll thread and ReloadConfig) --------------------------------

    def poll(self) -> None:
        """Brings every model's loaded versions in line with its directory and policy."""
        with self._lock:
            for name, model in self._models.items():
                self._sync_model(name, model)
            self._collect_unloaded()

    def reload(self, config) -> None:
        """Applies a new ModelServerConfig: models added, removed, policies and labels changed."""
        models = _model_configs(config)
        with self._lock:
            removed = set(self._models) - set(models)
            self._models = models
            for name in removed:
                self._unload(name, list(self._available.get(name, {})))
                self._labels.pop(name, None)
            for name, model in models.items():
                self._sync_model(name, model)
            for name, model in models.items():
                self._set_labels(name, model)
            self._collect_unloaded()

    def _collect_unloaded(self) -> None:
        """Frees unloaded versions now. A loaded version is a TensorFlow graph and
        session full of reference cycles, which only the cycle collector frees, and it
        runs by counts of Python objects, not bytes: left to itself, each version
        swap kept about 10 MB (measured). Twice per unload: a call still under way
        on the old version lets go of it by the next poll."""
        if self._collections_due:
            self._collections_due -= 1
            gc.collect()
            return_free_memory()

    def _set_labels(self, name: str, model) -> None:
        available = self._available.get(name, {})
        for version in model.version_labels.values():
            if version not in available and not self._allow_labels_for_unavailable:
                raise ServingError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f'Request to assign label to version {version} of model {name}, '
                    'which is not currently available for inference')
        self._labels[name] = dict(model.version_labels)

    def _sync_model(self, name: str, model) -> None:
        on_disk = _servable_versions(model.base_path, self._warned)
        failed = self._failed.setdefault(name, {})
        for version in [v for v in failed if v in on_disk]:
            if _mtime(on_disk[version]) != failed[version]:
                del failed[version]          # rewritten since it failed: try again
        while True:
            candidates = [v for v in on_disk if v not in failed]
            wanted = wanted_versions(model.model_version_policy, candidates)
            loaded = self._available.get(name, {})
            to_load = [v for v in wanted if v not in loaded]
            if not to_load:
                break
            for version in to_load:
                self._load(name, version, on_disk[version])
        self._unload(name, [v for v in self._available.get(name, {}) if v not in wanted])
        if name not in self._labels:
            self._set_labels(name, model)

    def _set_state(self, name: str, version: int, state: str, error=None) -> None:
        self._states.setdefault(name, {})[version] = VersionState(state, error)

    def _load(self, name: str, version: int, path: str) -> None:
        self._set_state(name, version, LOADING)
        started = time.time()
        try:
            servable = Servable(name, version, path)
            self._warmup(servable)
        except Exception as error:  # any failure: report it, never serve this version
            message = (f'Loading servable: {{name: {name} version: {version}}} failed: '
                       f'{type(error).__name__}: {error}')
            log.error(message)
            self._failed[name][version] = _mtime(path)
            self._set_state(name, version, END, ServingError(grpc.StatusCode.UNKNOWN, message))
            self._on_load(name, 'error')
            return
        self._available = {**self._available, name: {**self._available.get(name, {}),
                                                     version: servable}}
        self._set_state(name, version, AVAILABLE)
        self._on_load(name, 'ok')
        log.info('Successfully loaded servable version {name: %s version: %d} in %.1f s',
                 name, version, time.time() - started)

    def _unload(self, name: str, versions: List[int]) -> None:
        if not versions:
            return
        for version in versions:
            self._set_state(name, version, UNLOADING)
        remaining = {v: s for v, s in self._available.get(name, {}).items() if v not in versions}
        self._available = {**self._available, name: remaining}
        for version in versions:
            self._set_state(name, version, END)
            log.info('Unloaded servable version {name: %s version: %d}', name, version)
        self._collections_due = 2

    # --- lifecycle ------------------------------------------------------------

    def run_polling(self, interval_seconds: float) -> threading.Thread:
        """Polls the file system every interval (TF Serving: 0 means never again)."""
        def loop():
            while interval_seconds > 0 and not self._stopping.wait(interval_seconds):
                try:
                    self.poll()
                except Exception:  # keep polling; the error is in the log
                    log.exception('File system poll failed')
        thread = threading.Thread(target=loop, name='fs-poll', daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stopping.set()


def _servable_versions(base_path: str, warned: set) -> Dict[int, str]:
    """The version directories a server may load: numbers that fit in int64, as
    versions travel in ModelSpec and GetModelStatus (a directory named
    99999999999999999999 is left alone, with a warning logged once)."""
    ignored: List[str] = []
    found = version_dirs(base_path, ignored)
    for name in ignored:
        if (base_path, name) not in warned:
            warned.add((base_path, name))
            log.warning('Model base path %s: ignoring version directory %s (versions are '
                        '64-bit)', escaped(base_path), escaped(name, 40))
    return found


def _mtime(version_dir: str) -> int:
    """saved_model.pb's modification time (ns), on any file system TensorFlow knows."""
    try:
        return tf.io.gfile.stat(os.path.join(version_dir, SAVED_MODEL_FILE)).mtime_nsec
    except tf.errors.OpError:
        return 0
