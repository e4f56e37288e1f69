"""Runs the pipeline with TFX's LocalDagRunner: on this machine, or orchestrating
Beam components that run on Dataflow (the beam_pipeline_args decide), with one
line per component on the terminal and the outcome of the run at the end."""

import dataclasses
import datetime
import hashlib
import os
import time
from typing import Tuple

from pipeline import mlmd
from pipeline.config import REPO_ROOT, PipelineConfig
from runner import progress, spans
from runner.errors import ProblemFound

# Up to this much input, Beam's direct runner works in this one process: each
# extra worker process re-imports TensorFlow (seconds) and the data fits in
# memory many times over. Measured on the 2 MB taxi data: in_memory beats
# multi_threading (34 s against 38 s end to end).
IN_MEMORY_MAX_BYTES = 64 << 20
DIRECT_RUNNING_MODES = ('in_memory', 'multi_threading', 'multi_processing')


def direct_runner_args(data_root: str, mode: str = 'auto') -> Tuple[str, ...]:
    """Beam DirectRunner options: the given mode, or (auto) one suited to the size
    of the input data; one worker in process, one per core otherwise."""
    if mode == 'auto':
        size = sum(os.path.getsize(os.path.join(d, name))
                   for d, _, names in os.walk(data_root) for name in names)
        mode = 'in_memory' if size <= IN_MEMORY_MAX_BYTES else 'multi_processing'
    workers = 1 if mode == 'in_memory' else os.cpu_count()
    return (f'--direct_running_mode={mode}', f'--direct_num_workers={workers}')


def staged_schema_path(schema_file: str, schema_dir: str) -> str:
    """Where the schema goes under schema_dir: a path named by its content.

    ImportSchemaGen's cache key holds the schema's path, not its content: an
    edited schema at the same path would be served stale from the cache.
    """
    with open(schema_file, 'rb') as source:
        digest = hashlib.sha256(source.read()).hexdigest()[:16]
    return os.path.join(schema_dir, digest, 'schema.pbtxt')


def stage_schema(schema_file: str, schema_dir: str) -> str:
    """Copies the schema to its staged path (local or gs://) unless already there."""
    import tensorflow as tf
    staged = staged_schema_path(schema_file, schema_dir)
    if not tf.io.gfile.exists(staged):
        tf.io.gfile.makedirs(os.path.dirname(staged))
        tf.io.gfile.copy(schema_file, staged)
    return staged


def local_config(home: str, data_root: str, span_count: int, **settings) -> PipelineConfig:
    """A local run's config: on the latest `span_count` spans when data_root holds
    span-<N>/ directories, else on its CSV files."""
    data_root = os.path.abspath(data_root)
    return PipelineConfig(home=os.path.abspath(home), data_root=data_root,
                          spans=span_count if spans.spans_in(data_root) else None, **settings)


def new_run_id() -> str:
    """A run id as LocalDagRunner makes them (the time it starts, ISO 8601)."""
    return datetime.datetime.now().isoformat()


def batch_by_size() -> None:
    """Makes tfx-bsl's sources (Transform, StatisticsGen, Evaluator, BulkInferrer read
    through them) batch examples by their size in bytes rather than by how long
    batches took: TFT's analyzers then sum over the same batches on every run, and
    the same data gives the same transform graph to the last bit. This is tfx-bsl's
    own switch (an absl flag, for this process and its in-process Beam workers)."""
    from absl import flags
    from tfx_bsl.coders import batch_util  # noqa: F401  (defines the flag)
    flags.FLAGS(['runner', '--tfxio_use_byte_size_batching'], known_only=True)


def run_pipeline(tfx_pipeline, run_id: str, deterministic: bool = True) -> None:
    """Runs a TFX pipeline with LocalDagRunner under run_id (with batches by size,
    if deterministic); raises on the first failing component."""
    # Imported here: TFX takes seconds to import, the CLI should not.
    from tfx.dsl.compiler import constants
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner
    from tfx.orchestration.portable import runtime_parameter_utils

    class NamedRunDagRunner(LocalDagRunner):
        """LocalDagRunner under a run id chosen here, so that this run's record is
        found by its id and never mistaken for another's."""

        def run_with_ir(self, pipeline, run_options=None):
            runtime_parameter_utils.substitute_runtime_parameter(
                pipeline, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id})
            return super().run_with_ir(pipeline, run_options)

    if deterministic:
        batch_by_size()
    NamedRunDagRunner().run(tfx_pipeline)


def run_tracked(tfx_pipeline, run_id: str, deterministic: bool = True) -> None:
    """run_pipeline with one line per component on the terminal; ProblemFound
    naming the component that failed and why."""
    with progress.component_lines() as lines:
        try:
            run_pipeline(tfx_pipeline, run_id, deterministic)
        except Exception as error:  # reported naming the component and the cause
            lines.fail()
            raise ProblemFound(f'{lines.current or "set-up"} failed: '
                               f'{type(error).__name__}: {error}') from error


def prepared(config: PipelineConfig) -> PipelineConfig:
    """The config as a local run uses it: Beam's direct runner sized to the data,
    the schema staged under a path named by its content, the code version found."""
    from pipeline.manifest import code_version
    beam_args = config.beam_pipeline_args
    if not any(arg.startswith(('--runner=', '--direct_running_mode=')) for arg in beam_args):
        beam_args += direct_runner_args(config.data_root)
    return dataclasses.replace(
        config, beam_pipeline_args=beam_args,
        schema_file=stage_schema(config.schema_file, config.paths.schema_dir),
        code_version=config.code_version or code_version(REPO_ROOT))


def push_outcome(record: mlmd.RunRecord) -> str:
    """What a run did with its model: where it was pushed, or why not."""
    push = record.pushed_model
    if push is not None and push.get(mlmd.ALREADY_PUSHED) == 1:
        return (f'model unchanged: version {push.get(mlmd.PUSHED_VERSION)} in '
                f'{push.get(mlmd.PUSHED_DESTINATION)} already serves it')
    if record.pushed:
        return f'pushed version {record.pushed_version} to {push.get(mlmd.PUSHED_DESTINATION)}'
    if record.blessed is False:
        return 'nothing pushed: the Evaluator did not bless the model (see its validation result)'
    if record.infra_blessed is False:
        reason = record.infra_blessing.get(mlmd.INFRA_REASON) or 'infra validation failed'
        return f'nothing pushed: the model failed its canary: {reason}'
    return 'nothing pushed'


def run_visibly(config: PipelineConfig, log_path: str) -> mlmd.RunRecord:
    """Runs the training pipeline with one line per component; prints what it pushed.
    Raises ProblemFound naming the component that failed and why."""
    run_id = new_run_id()
    print(f'Pipeline {config.pipeline_name}, run {run_id}, home {config.home}\n'
          f'Full logs: {log_path}', flush=True)
    started = time.time()
    from pipeline.pipeline import create_pipeline   # TFX: seconds to import
    run_tracked(create_pipeline(prepared(config)), run_id, config.deterministic)
    record = mlmd.find_run(mlmd.load_runs(mlmd.connect(config.metadata_path)), run_id)
    print(f'Done in {time.time() - started:.1f} s: {push_outcome(record)}.')
    return record
