"""TFX's Trainer, recording what it made and with what.

The Model artifact gets mlmd.MODEL_FINGERPRINT (pipeline/fingerprint.py: sha256
over the SavedModel's files), by which runs are compared, reproduced and
rolled back, and mlmd.TRAINED_WITH, the hyperparameters run_fn trained with
(models/trainer.py writes them to the model_run directory). Same inputs,
parameters and executor as TFX's Trainer otherwise.
"""

import json
import os
from typing import Any, Dict, List

from tfx import types
from tfx.components.trainer import component, executor
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import path_utils

from models.hparams import HPARAMS_FILE
from pipeline.fingerprint import directory_fingerprint
from pipeline.mlmd import MODEL_FINGERPRINT, TRAINED_WITH


def record_fingerprint(output_dict: Dict[str, List[types.Artifact]]) -> None:
    """The model's fingerprint and hyperparameters, as custom properties of the Model."""
    model = artifact_utils.get_single_instance(output_dict[standard_component_specs.MODEL_KEY])
    model.set_string_custom_property(
        MODEL_FINGERPRINT, directory_fingerprint(path_utils.serving_model_path(model.uri)))
    model_run = artifact_utils.get_single_instance(
        output_dict[standard_component_specs.MODEL_RUN_KEY])
    path = os.path.join(model_run.uri, HPARAMS_FILE)
    if fileio.exists(path):
        with fileio.open(path) as f:
            used = json.loads(f.read())['hparams']
        model.set_string_custom_property(TRAINED_WITH, json.dumps(used, sort_keys=True))


class Executor(executor.GenericExecutor):
    """TFX's run_fn executor; then the model's fingerprint."""

    def Do(self, input_dict, output_dict, exec_properties: Dict[str, Any]) -> None:
        super().Do(input_dict, output_dict, exec_properties)
        record_fingerprint(output_dict)


class Trainer(component.Trainer):
    """TFX's Trainer with the executor above."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
