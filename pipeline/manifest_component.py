"""RunManifest: the component that records what a run was made from (see
pipeline/manifest.py for what it holds), as one artifact in ML Metadata."""

import json
import os

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact
from tfx.types.standard_artifacts import Examples, Schema

from pipeline.fingerprint import file_sha256
from pipeline.manifest import data_files, files_fingerprint, package_versions
from pipeline.mlmd import DATA_FILES, DATA_FINGERPRINT, PACKAGE_VERSIONS, SCHEMA_SHA256, SPAN


class Manifest(artifact.Artifact):
    """RunManifest's output: the manifest in its custom properties and manifest.json."""

    TYPE_NAME = 'taxi.RunManifest'   # <namespace>.<Title>, as Kubeflow v2 wants custom types


@component
def RunManifest(examples: InputArtifact[Examples], schema: InputArtifact[Schema],
                manifest: OutputArtifact[Manifest], recorded: Parameter[str],
                input_base: Parameter[str], pattern: Parameter[str]) -> None:
    """Records code, lock, packages, config, schema and the data's files and content."""
    import tensorflow as tf
    values = json.loads(recorded)
    span = examples.get_int_custom_property(SPAN)
    files = data_files(input_base, pattern.replace('{SPAN}', str(span)))
    values.update({PACKAGE_VERSIONS: package_versions(), DATA_FILES: files,
                   DATA_FINGERPRINT: files_fingerprint(files),
                   SCHEMA_SHA256: file_sha256(os.path.join(schema.uri, 'schema.pbtxt'))})
    for key, value in sorted(values.items()):
        if isinstance(value, bool):
            manifest.set_int_custom_property(key, int(value))
        elif isinstance(value, str):
            manifest.set_string_custom_property(key, value)
        else:
            manifest.set_string_custom_property(key, json.dumps(value, sort_keys=True))
    tf.io.gfile.makedirs(manifest.uri)
    with tf.io.gfile.GFile(os.path.join(manifest.uri, 'manifest.json'), 'w') as out:
        out.write(json.dumps(values, indent=2, sort_keys=True))
