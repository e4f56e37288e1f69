"""Runs the pipeline with TFX's LocalDagRunner: on this machine, or orchestrating
Beam components that run on Dataflow (the beam_pipeline_args decide)."""

import dataclasses
import hashlib
import os
from typing import Tuple

from pipeline.config import PipelineConfig

# Up to this much input, Beam's direct runner works in this one process: each
# extra worker process re-imports TensorFlow (seconds) and the data fits in
# memory many times over. Measured on the 2 MB taxi data: in_memory beats
# multi_threading (34 s against 38 s end to end).
IN_MEMORY_MAX_BYTES = 64 << 20


def direct_runner_args(data_root: str, mode: str = 'auto') -> Tuple[str, ...]:
    """Beam DirectRunner options: the given mode, or (auto) one suited to the size
    of the input data; one worker in process, one per core otherwise."""
    if mode == 'auto':
        size = sum(os.path.getsize(os.path.join(d, name))
                   for d, _, names in os.walk(data_root) for name in names)
        mode = 'in_memory' if size <= IN_MEMORY_MAX_BYTES else 'multi_processing'
    workers = 1 if mode == 'in_memory' else os.cpu_count()
    return (f'--direct_running_mode={mode}', f'--direct_num_workers={workers}')


def staged_schema_path(schema_file: str, root: str) -> str:
    """Where the schema goes under root: a path named by its content.

    ImportSchemaGen's cache key holds the schema's path, not its content: an
    edited schema at the same path would be served stale from the cache.
    """
    with open(schema_file, 'rb') as source:
        digest = hashlib.sha256(source.read()).hexdigest()[:16]
    return os.path.join(root, 'schema', digest, 'schema.pbtxt')


def stage_schema(schema_file: str, root: str) -> str:
    """Copies the schema to its staged path (local or gs://) unless already there."""
    import tensorflow as tf
    staged = staged_schema_path(schema_file, root)
    if not tf.io.gfile.exists(staged):
        tf.io.gfile.makedirs(os.path.dirname(staged))
        tf.io.gfile.copy(schema_file, staged)
    return staged


def docker_available() -> bool:
    """Whether a Docker engine answers here (the client alone is not enough)."""
    import subprocess
    try:
        return subprocess.run(['docker', 'info'], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def run(config: PipelineConfig) -> None:
    """Builds and runs the pipeline; raises on the first failing component."""
    # Imported here: TFX takes seconds to import, the CLI should not.
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner
    from pipeline.pipeline import create_pipeline

    beam_args = config.beam_pipeline_args
    if not any(arg.startswith(('--runner=', '--direct_running_mode=')) for arg in beam_args):
        beam_args += direct_runner_args(config.data_root)
    config = dataclasses.replace(
        config, beam_pipeline_args=beam_args,
        schema_file=stage_schema(config.schema_file, config.storage_root or config.home),
        infra_validator=config.infra_validator or ('docker' if docker_available() else None))
    LocalDagRunner().run(create_pipeline(config))
