"""Runs the pipeline with TFX's LocalDagRunner: on this machine, or orchestrating
Beam components that run on Dataflow (the beam_pipeline_args decide), with one
line per component on the terminal and the outcome of the run at the end."""

import dataclasses
import datetime
import errno
import hashlib
import os
import time
from typing import Callable, List, Tuple

from pipeline import mlmd
from pipeline.config import REPO_ROOT, PipelineConfig
from runner import history, inputs, progress, spans
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


# Causes a later error can hide: a full disk also fails ML Metadata's update of
# the failed execution, but the disk is what to fix.
_REAL_CAUSES = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS,
                errno.EFBIG, errno.EIO)


def real_cause(error: BaseException) -> BaseException:
    """The OSError (no space left, permission denied...) behind an error, else the error."""
    seen = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _REAL_CAUSES:
            return seen
        seen = seen.__cause__ or seen.__context__
    return error


def failure_message(component: str, error: BaseException) -> str:
    """`COMPONENT failed: Type: what`, on one line: anomalies summarised (the full
    list goes to the log with the error), the real cause of an OSError chain."""
    from pipeline.validation_gate import DataAnomaliesError
    cause = real_cause(error)
    text = (f'{cause.summary()} (every anomaly, with its description, in the log)'
            if isinstance(cause, DataAnomaliesError) else str(cause))
    return f'{component} failed: {type(cause).__name__}: {text}'


class ComponentFailed(ProblemFound):
    """A component of a run failed; `component` names it."""

    def __init__(self, component: str, message: str):
        super().__init__(message)
        self.component = component


def run_tracked(tfx_pipeline, run_id: str, working_on: Callable[[str], None],
                deterministic: bool = True) -> None:
    """run_pipeline with one line per component on the terminal; ComponentFailed
    naming the component that failed and why. working_on(run_id) tells the
    home's lock which run is under way (runner/home_lock.py)."""
    working_on(run_id)
    with progress.component_lines() as lines:
        try:
            run_pipeline(tfx_pipeline, run_id, deterministic)
        except Exception as error:  # reported naming the component and the cause
            lines.fail()
            component = lines.current or 'set-up'
            raise ComponentFailed(component, failure_message(component, error)) from error


def prepared(config: PipelineConfig) -> PipelineConfig:
    """The config as a local run uses it: Beam's direct runner sized to the data,
    the schema staged under a path named by its content, a window of several spans
    staged as one, the code version found."""
    from pipeline.manifest import code_version
    beam_args = config.beam_pipeline_args
    if not any(arg.startswith(('--runner=', '--direct_running_mode=')) for arg in beam_args):
        beam_args += direct_runner_args(config.data_root)
    staged = config.staged_input
    if staged is None and config.spans and config.spans > 1:
        staged = spans.stage_window(config.data_root, config.spans, config.paths.inputs_dir)
    return dataclasses.replace(
        config, beam_pipeline_args=beam_args, staged_input=staged,
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


def abandoned_runs(config: PipelineConfig) -> List[str]:
    """Lines on the runs whose process was killed mid-run: their executions are still
    RUNNING in ML Metadata, and no live process works on them (the caller holds the
    home's lock)."""
    if not os.path.exists(config.metadata_path):
        return []
    runs = mlmd.load_runs(mlmd.connect(config.metadata_path), config.pipeline_name)
    return [f'Run {r.run_id} was abandoned at {r.state[len("running at "):]} '
            '(its process is gone); this run starts afresh from the cache'
            for r in runs if r.state.startswith('running at ')]


def run_visibly(config: PipelineConfig, log_path: str,
                working_on: Callable[[str], None]) -> mlmd.RunRecord:
    """Runs the training pipeline with one line per component; prints what it pushed.
    Raises ProblemFound naming the component that failed and why."""
    run_id = new_run_id()
    print(f'Pipeline {config.pipeline_name}, run {run_id}, home {config.home}\n'
          f'Full logs: {log_path}', flush=True)
    for line in abandoned_runs(config):
        print(line, flush=True)
    started = time.time()
    from pipeline.pipeline import SPAN_PATTERN, create_pipeline   # TFX: seconds to import
    config = prepared(config)
    try:
        run_tracked(create_pipeline(config), run_id, working_on, config.deterministic)
    except ComponentFailed as failure:
        problem = inputs.diagnose(config.input_base, SPAN_PATTERN if config.spans else '*.csv') \
            if failure.component == 'CsvExampleGen' else None
        if problem:
            raise ComponentFailed(failure.component, f'CsvExampleGen failed: {problem}') \
                from failure.__cause__
        raise
    runs = mlmd.load_runs(mlmd.connect(config.metadata_path))
    record = mlmd.find_run(runs, run_id)
    print(f'Done in {time.time() - started:.1f} s, hyperparameters '
          f'{history.hyperparameter_source(record, runs)}: {push_outcome(record)}.')
    return record
