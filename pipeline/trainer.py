"""TFX's Trainer, recording the fingerprint of the model it wrote.

The Model artifact gets mlmd.MODEL_FINGERPRINT (pipeline/fingerprint.py: sha256
over the SavedModel's files), by which runs are compared, reproduced and
rolled back. Same inputs, parameters and executor as TFX's Trainer otherwise.
"""

from typing import Any, Dict, List

from tfx import types
from tfx.components.trainer import component, executor
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import path_utils

from pipeline.fingerprint import directory_fingerprint
from pipeline.mlmd import MODEL_FINGERPRINT


def record_fingerprint(output_dict: Dict[str, List[types.Artifact]]) -> None:
    model = artifact_utils.get_single_instance(output_dict[standard_component_specs.MODEL_KEY])
    model.set_string_custom_property(
        MODEL_FINGERPRINT, directory_fingerprint(path_utils.serving_model_path(model.uri)))


class Executor(executor.GenericExecutor):
    """TFX's run_fn executor; then the model's fingerprint."""

    def Do(self, input_dict, output_dict, exec_properties: Dict[str, Any]) -> None:
        super().Do(input_dict, output_dict, exec_properties)
        record_fingerprint(output_dict)


class Trainer(component.Trainer):
    """TFX's Trainer with the executor above."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
