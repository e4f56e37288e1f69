"""Stops the pipeline when ExampleValidator found anomalies.

ExampleValidator only records anomalies; nothing in TFX halts on them. This
component fails (so LocalDagRunner, Vertex and Kubeflow all stop the run) and
Transform is made to depend on it, so a bad batch never reaches Trainer.
"""

import os
from typing import Dict, List

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils
from tfx.types.standard_artifacts import ExampleAnomalies
from tfx.utils import io_utils

ANOMALIES_FILE = 'SchemaDiff.pb'  # what ExampleValidator writes per split


class DataAnomaliesError(RuntimeError):
    """The data does not match the schema. str() is every anomaly with its
    description; summary() fits them on one line."""

    def __init__(self, found: Dict[str, anomalies_pb2.Anomalies]):
        self.found = found
        super().__init__(' | '.join(f'split {split}: {describe(anomalies)}'
                                    for split, anomalies in sorted(found.items())))

    def summary(self, most: int = 5) -> str:
        """`splits A, B: feature: KINDS; ...`, the first `most` features (and how many more)."""
        kinds: Dict[str, set] = {}
        for anomalies in self.found.values():
            if anomalies.data_missing:
                kinds.setdefault('<dataset>', set()).add(NO_DATA)
            for feature, info in anomalies.anomaly_info.items():
                kinds.setdefault(feature, set()).update(_kind_names(info))
            if anomalies.HasField('dataset_anomaly_info'):
                kinds.setdefault('<dataset>', set()).update(
                    _kind_names(anomalies.dataset_anomaly_info))
        listed = [f'{feature}: {", ".join(sorted(kinds[feature]))}'
                  for feature in sorted(kinds)[:most]]
        more = f'; and {len(kinds) - most} more' if len(kinds) > most else ''
        return f'splits {", ".join(sorted(self.found))}: ' + '; '.join(listed) + more


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


def _kind_names(info) -> List[str]:
    return [anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in info.reason]


NO_DATA = 'DATA_MISSING'   # TFDV's data_missing: the split has no examples at all


def describe(anomalies: anomalies_pb2.Anomalies) -> str:
    """`feature: KIND (description)` for each anomalous feature, sorted."""
    if anomalies.data_missing:
        return f'<dataset>: {NO_DATA} (no examples)'
    lines = []
    for feature, info in sorted(anomalies.anomaly_info.items()):
        lines.append(f'{feature}: {", ".join(_kind_names(info))} ({info.short_description})')
    if anomalies.HasField('dataset_anomaly_info'):
        info = anomalies.dataset_anomaly_info
        kinds = ', '.join(_kind_names(info))
        lines.append(f'<dataset>: {kinds} ({info.short_description})' if kinds
                     else f'<dataset>: {info.short_description}')
    return '; '.join(lines)


@component
def ExampleValidationGate(anomalies: InputArtifact[ExampleAnomalies]) -> None:
    """Raises DataAnomaliesError naming every anomalous feature and its kind."""
    found = {split: a for split, a in read_anomalies(anomalies).items() if describe(a)}
    if found:
        raise DataAnomaliesError(found)
