"""TFX's Pusher, except that it does not push again the model serving already has.

A re-run on unchanged data and code takes the Trainer's model from the cache;
the Evaluator blesses it again (it is now its own baseline), and TFX's Pusher
would copy it under a new version, so TF Serving would load the same model once
more. This Pusher compares the candidate with the newest pushed version, file
by file; when they are the same it records that version as the push (with
ALREADY_PUSHED_KEY set) and writes nothing to the serving directory. An older
version with the same files does not count: pushing it again is a rollback.
"""

import os
from typing import Any, Dict, List, Optional, Tuple

from tfx import types
from tfx.components.pusher import component, executor
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from common.tf_serving import newest_version
from pipeline.mlmd import ALREADY_PUSHED


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


class Executor(executor.Executor):
    """TFX's Pusher executor, skipping the copy when the newest version is this model."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
        served = self._serving_copy(input_dict, exec_properties)
        if served is None:
            super().Do(input_dict, output_dict, exec_properties)
            return
        version, path = served
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        io_utils.copy_dir(self.GetModelPath(input_dict), model_push.uri)  # archived, as TFX does
        self._MarkPushed(model_push, pushed_destination=path, pushed_version=str(version))
        model_push.set_int_custom_property(ALREADY_PUSHED, 1)

    def _serving_copy(self, input_dict, exec_properties) -> Optional[Tuple[int, str]]:
        """(version, path) of the newest pushed version when it holds this blessed model."""
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY],
                                  destination)
        if destination.WhichOneof('destination') != 'filesystem' \
                or not self.CheckBlessing(input_dict):
            return None
        base = destination.filesystem.base_directory
        version = newest_version(base)
        if version is None:
            return None
        path = os.path.join(base, str(version))
        return (version, path) if same_files(path, self.GetModelPath(input_dict)) else None


class Pusher(component.Pusher):
    """TFX's Pusher (same inputs, outputs and parameters) with the executor above."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
