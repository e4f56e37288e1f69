"""The Vertex AI training extension's Trainer, recording the model's fingerprint
like pipeline/trainer_component.py. Its own module: the extension loads the Google Cloud
libraries, which local runs do without."""

from typing import Any, Dict

from tfx.dsl.components.base import executor_spec
from tfx.extensions.google_cloud_ai_platform.trainer import component, executor

from pipeline.trainer_component import record_fingerprint


class Executor(executor.GenericExecutor):
    """Starts the Vertex AI training job and waits for it; then the model's fingerprint."""

    def Do(self, input_dict, output_dict, exec_properties: Dict[str, Any]) -> None:
        super().Do(input_dict, output_dict, exec_properties)
        record_fingerprint(output_dict)


class Trainer(component.Trainer):
    """The extension's Trainer with the executor above."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
