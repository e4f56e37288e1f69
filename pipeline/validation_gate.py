"""Stops the pipeline when ExampleValidator found anomalies.

ExampleValidator only records anomalies; nothing in TFX halts on them. This
component fails (so LocalDagRunner, Vertex and Kubeflow all stop the run) and
Transform is made to depend on it, so a bad batch never reaches Trainer.
"""

import os
from typing import Dict

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils
from tfx.types.standard_artifacts import ExampleAnomalies
from tfx.utils import io_utils

ANOMALIES_FILE = 'SchemaDiff.pb'  # what ExampleValidator writes per split


class DataAnomaliesError(RuntimeError):
    """The data does not match the schema."""


def read_anomalies(artifact) -> Dict[str, anomalies_pb2.Anomalies]:
    """Split name -> the Anomalies proto ExampleValidator wrote for it."""
    result = {}
    for split in artifact_utils.decode_split_names(artifact.split_names):
        path = os.path.join(artifact_utils.get_split_uri([artifact], split), ANOMALIES_FILE)
        result[split] = read_anomalies_file(path)
    return result


def read_anomalies_file(path: str) -> anomalies_pb2.Anomalies:
    anomalies = anomalies_pb2.Anomalies()
    anomalies.ParseFromString(io_utils.read_bytes_file(path))
    return anomalies


def describe(anomalies: anomalies_pb2.Anomalies) -> str:
    """`feature: KIND (description)` for each anomalous feature, sorted."""
    lines = []
    for feature, info in sorted(anomalies.anomaly_info.items()):
        kinds = ', '.join(anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in info.reason)
        lines.append(f'{feature}: {kinds} ({info.short_description})')
    if anomalies.HasField('dataset_anomaly_info'):
        info = anomalies.dataset_anomaly_info
        lines.append(f'<dataset>: {info.short_description}')
    return '; '.join(lines)


@component
def ExampleValidationGate(anomalies: InputArtifact[ExampleAnomalies]) -> None:
    """Raises DataAnomaliesError naming every anomalous feature and its kind."""
    found = {split: describe(a) for split, a in read_anomalies(anomalies).items()}
    found = {split: text for split, text in found.items() if text}
    if found:
        raise DataAnomaliesError(' | '.join(
            f'split {split}: {text}' for split, text in sorted(found.items())))
