"""Runs the pipeline on this machine with TFX's LocalDagRunner."""

import dataclasses
import hashlib
import os
import shutil

from pipeline.config import PipelineConfig


def stage_schema(schema_file: str, home: str) -> str:
    """Copies the schema to a path named by its content.

    ImportSchemaGen's cache key holds the schema's path, not its content: an
    edited schema at the same path would be served stale from the cache.
    """
    with open(schema_file, 'rb') as source:
        digest = hashlib.sha256(source.read()).hexdigest()[:16]
    staged = os.path.join(home, 'schema', digest, 'schema.pbtxt')
    if not os.path.exists(staged):
        os.makedirs(os.path.dirname(staged), exist_ok=True)
        shutil.copyfile(schema_file, staged)
    return staged


def run(config: PipelineConfig) -> None:
    """Builds and runs the pipeline; raises on the first failing component."""
    # Imported here: TFX takes seconds to import, the CLI should not.
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner
    from pipeline.pipeline import create_pipeline

    config = dataclasses.replace(config, schema_file=stage_schema(config.schema_file, config.home))
    LocalDagRunner().run(create_pipeline(config))
