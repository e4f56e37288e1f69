"""TFX's Pusher (same inputs, outputs and parameters), pushing to a file system
so that a reader never takes a half-written version for a whole one.

- Atomic: a version appears under its number only when complete. Locally the
  model is copied (and synced) under a hidden name beside it, which TF Serving
  and our server ignore, then renamed; an interrupted push leaves at most that
  hidden directory, which the next push removes. On object stores (gs://),
  where rename is a copy, saved_model.pb goes last: TF Serving takes a version
  once that file exists. Either way the copy is checked against the source
  (pipeline/fingerprint.py) before the push is recorded, and a failed copy is
  removed before the error (its real cause: no space left, permission
  denied) goes up.
- Not twice: when the newest version already holds the same files, that
  version is recorded as the push (mlmd.ALREADY_PUSHED) and nothing is
  written. An older version with the same files does not count: pushing it
  again is a rollback, which `custom_config={'rolled_back_to': V}` records.
- Versions only grow: a new version's number is the time in seconds, or one
  more than the newest version when that is later (a rollback, a fast clock).
"""

import json
import os
import shutil
import signal
import time
from typing import Any, Dict, List, Optional, Tuple

from tfx import types
from tfx.components.pusher import component, executor
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from common import interruption
from common.tf_serving import SAVED_MODEL_FILE, is_url, newest_version
from pipeline.fingerprint import directory_fingerprint
from pipeline.mlmd import ALREADY_PUSHED, MODEL_FINGERPRINT, ROLLED_BACK_TO

STAGING_PREFIX = '.push-'    # not a number: no model server takes it for a version


def _relative_files(directory: str) -> List[str]:
    return sorted(os.path.relpath(os.path.join(root, name), directory)
                  for root, _, files in fileio.walk(directory) for name in files)


def same_files(left: str, right: str, chunk_bytes: int = 1 << 20) -> bool:
    """Whether two directories hold the same files with the same bytes. It stops at
    the first difference, so a retrained model is told apart without reading it all."""
    files = _relative_files(left)
    if files != _relative_files(right):
        return False
    for name in files:
        with fileio.open(os.path.join(left, name), 'rb') as a, \
                fileio.open(os.path.join(right, name), 'rb') as b:
            while True:
                chunk = a.read(chunk_bytes)
                if chunk != b.read(chunk_bytes):
                    return False
                if not chunk:
                    break
    return True


def next_version(base_directory: str) -> int:
    """The time in seconds, or one more than the newest version if that is later."""
    newest = newest_version(base_directory)
    return max(int(time.time()), newest + 1 if newest is not None else 0)


def _copy_local(source: str, target: str) -> None:
    """Copies a directory, each file synced to disk before the next."""
    for name in _relative_files(source):
        destination = os.path.join(target, name)
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        with open(os.path.join(source, name), 'rb') as src, open(destination, 'wb') as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
            dst.flush()
            os.fsync(dst.fileno())


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers(base_directory: str) -> List[str]:
    """Removes the staging directories of interrupted pushes (their process is gone);
    never a numbered version. Returns what it removed."""
    removed: List[str] = []
    if is_url(base_directory) or not os.path.isdir(base_directory):
        return removed
    for name in os.listdir(base_directory):
        if not name.startswith(STAGING_PREFIX):
            continue
        pid = name.rsplit('-', 1)[-1]
        if pid.isdigit() and _process_alive(int(pid)):
            continue    # a push under way
        shutil.rmtree(os.path.join(base_directory, name), ignore_errors=True)
        removed.append(name)
    return removed


def push_version(source: str, base_directory: str, version: int) -> str:
    """Copies the SavedModel at source to base_directory/version, atomically where the
    file system can rename, saved_model.pb last where it cannot; checks the copy."""
    target = os.path.join(base_directory, str(version))
    if fileio.exists(target):
        raise FileExistsError(f'{target} exists already')
    if is_url(base_directory):
        io_utils.copy_dir(source, target, deny_regex_patterns=[r'saved_model\.pb'])
        if interruption.requested() is not None:    # a stop asked for: never a version
            _remove(target)
            interruption.check()
        io_utils.copy_file(os.path.join(source, SAVED_MODEL_FILE),
                           os.path.join(target, SAVED_MODEL_FILE))
        staging = target
    else:
        os.makedirs(base_directory, exist_ok=True)
        staging = os.path.join(base_directory, f'{STAGING_PREFIX}{version}-{os.getpid()}')
        try:
            _copy_local(source, staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    if directory_fingerprint(staging) != directory_fingerprint(source):
        _remove(staging)
        raise IOError(f'the copy of {source} at {staging} differs from it; removed')
    if staging != target:
        # A stop asked for: never made visible. One that comes during the check and the
        # rename waits until the rename is done: the version was pushed before the stop.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, (signal.SIGINT, signal.SIGTERM))
        try:
            if interruption.requested() is not None:
                _remove(staging)
                interruption.check()
            os.rename(staging, target)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    return target


def _remove(directory: str) -> None:
    """Removes a pushed copy, saved_model.pb first so that no reader takes it meanwhile."""
    marker = os.path.join(directory, SAVED_MODEL_FILE)
    if fileio.exists(marker):
        fileio.remove(marker)
    fileio.rmtree(directory)


class Executor(executor.Executor):
    """TFX's Pusher executor with atomic, checked, never repeated pushes."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY],
                                  destination)
        if destination.WhichOneof('destination') != 'filesystem':
            super().Do(input_dict, output_dict, exec_properties)
            return
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        base = destination.filesystem.base_directory
        model_path = self.GetModelPath(input_dict)
        remove_leftovers(base)
        served = self._serving_copy(base, model_path)
        if served is not None:
            version, path = served
            model_push.set_int_custom_property(ALREADY_PUSHED, 1)
        else:
            version = next_version(base)
            path = push_version(model_path, base, version)
        io_utils.copy_dir(model_path, model_push.uri)   # archived, as TFX does
        self._MarkPushed(model_push, pushed_destination=path, pushed_version=str(version))
        model_push.set_string_custom_property(MODEL_FINGERPRINT,
                                              directory_fingerprint(model_path))
        rolled_back_to = self._custom_config(exec_properties).get(ROLLED_BACK_TO)
        if rolled_back_to is not None:
            model_push.set_string_custom_property(ROLLED_BACK_TO, str(rolled_back_to))

    @staticmethod
    def _custom_config(exec_properties) -> Dict[str, Any]:
        return json.loads(exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
                          or 'null') or {}

    @staticmethod
    def _serving_copy(base: str, model_path: str) -> Optional[Tuple[int, str]]:
        """(version, path) of the newest version when it holds this model's files."""
        version = newest_version(base)
        if version is None:
            return None
        path = os.path.join(base, str(version))
        return (version, path) if same_files(path, model_path) else None


class Pusher(component.Pusher):
    """TFX's Pusher (same inputs, outputs and parameters) with the executor above."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
