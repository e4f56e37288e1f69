"""The training pipeline's run on this machine (LocalDagRunner; Beam components on
Beam's direct runner, or wherever the config's Beam options send them): what
the run works out before it starts, the run, and what it did with its model."""

import dataclasses
import hashlib
import logging
import os
import time
from typing import Any, Dict, Optional, Tuple

from common import interruption
from operations import execution, inputs, run_history, spans
from pipeline import component_ids as ids
from pipeline import mlmd
from pipeline.config import REPO_ROOT, PipelineConfig, RunSetup


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


def local_config(home: str, data_root: str, span_count: int, **settings: Any) -> PipelineConfig:
    """A local run's config: on the latest `span_count` spans when data_root holds
    span-<N>/ directories, else on its CSV files."""
    data_root = os.path.abspath(data_root)
    return PipelineConfig(home=os.path.abspath(home), data_root=data_root,
                          spans=span_count if spans.spans_in(data_root) else None, **settings)


def prepare(config: PipelineConfig, staged_input: Optional[str] = None,
            image: str = '') -> RunSetup:
    """What a run from this machine works out before it starts: Beam's direct
    runner sized to the data (unless the config names a runner or mode), the schema
    staged under a path named by its content, a window of several spans staged as
    one (unless staged_input is given), the code version (and the image the
    workers run, if any)."""
    from pipeline.manifest import code_version
    staged = staged_input
    if staged is None and config.spans and config.spans > 1:
        staged = spans.stage_window(config.data_root, config.spans, config.paths.inputs_dir)
    return RunSetup(
        code_version=code_version(REPO_ROOT, image),
        schema_file=stage_schema(config.schema_file, config.paths.schema_dir),
        staged_input=staged,
        beam_pipeline_args=() if execution.runner_chosen(config.beam_pipeline_args)
        else execution.direct_runner_args(config.data_root))


def push_outcome(record: mlmd.RunRecord) -> str:
    """What a run did with its model: where it was pushed, or why not."""
    if record.already_pushed:
        return (f'model unchanged: version {record.pushed_version} in '
                f'{record.pushed_destination} already serves it')
    if record.pushed:
        return f'pushed version {record.pushed_version} to {record.pushed_destination}'
    if record.blessed is False:
        return 'nothing pushed: the Evaluator did not bless the model (see its validation result)'
    if record.infra_blessed is False:
        reason = record.canary_failure or 'infra validation failed'
        return f'nothing pushed: the model failed its canary: {reason}'
    return 'nothing pushed'


@dataclasses.dataclass(frozen=True)
class TrainingRun:
    """A finished training run: its record, and what to tell of it."""

    record: mlmd.RunRecord
    seconds: float
    hyperparameters_from: str
    outcome: str

    @property
    def summary(self) -> str:
        return (f'Done in {self.seconds:.1f} s, hyperparameters {self.hyperparameters_from}: '
                f'{self.outcome}.')


def _numeric_columns(schema_path: str) -> Dict[str, str]:
    """The schema's INT and FLOAT features: column -> 'INT' or 'FLOAT'."""
    import tensorflow as tf  # loaded by the run already; reads gs:// too
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2
    with tf.io.gfile.GFile(schema_path) as f:
        schema = text_format.Parse(f.read(), schema_pb2.Schema())
    return {feature.name: schema_pb2.FeatureType.Name(feature.type) for feature in schema.feature
            if feature.type in (schema_pb2.INT, schema_pb2.FLOAT)}


def _gate_hint(config: PipelineConfig, setup: RunSetup, pattern: str) -> Optional[str]:
    """What in the input made the validation gate's anomalies, by file and line: a byte
    order mark, spaces around a header name, a value of a numeric column that is not
    a number; None when none of those."""
    input_base = setup.input_base(config)
    marked = inputs.byte_order_marks(input_base, pattern)
    if marked:
        return (f'{marked[0]} starts with a UTF-8 byte order mark (BOM), so its first column '
                "reads as a new one and the schema's as missing: save it as UTF-8 without a BOM")
    padded = inputs.padded_names(input_base, pattern)
    if padded:
        return padded
    try:
        numeric = _numeric_columns(setup.schema(config))
    except Exception:  # the schema read before the gate; a diagnosis never fails the report
        logging.exception('could not read the schema for the diagnosis')
        return None
    return inputs.not_a_number(input_base, pattern, numeric)


def _diagnosed(failure: execution.ComponentFailed, config: PipelineConfig,
               setup: RunSetup) -> execution.ComponentFailed:
    """CsvExampleGen's failure with the input files' own problem, by file and line;
    the validation gate's, with what in the input made the anomalies (_gate_hint)."""
    from pipeline.training_pipeline import SPAN_PATTERN  # TFX: seconds to import
    pattern = SPAN_PATTERN if config.spans else '*.csv'
    message = None
    if failure.component == ids.EXAMPLE_GEN:
        problem = inputs.diagnose(setup.input_base(config), pattern)   # never raises
        message = f'{ids.EXAMPLE_GEN} failed: {problem}' if problem else None
    elif failure.component == ids.VALIDATION_GATE:
        hint = _gate_hint(config, setup, pattern)
        message = f'{failure} ({hint})' if hint else None
    if message is None:
        return failure
    diagnosed = execution.ComponentFailed(failure.component, message)
    diagnosed.__cause__ = failure.__cause__
    return diagnosed


def _set_up(config: PipelineConfig, progress: execution.Progress, staged_input: Optional[str],
            image: str) -> Tuple[Any, RunSetup]:
    """(the TFX pipeline to run, its RunSetup): the store recreated if a first run left
    it empty, the setup prepared, the pipeline built."""
    recreated = mlmd.recreate_if_empty(config.store)
    if recreated:
        progress.note(recreated)
    from pipeline.training_pipeline import create_training_pipeline  # TFX: seconds to import
    setup = prepare(config, staged_input, image)
    return create_training_pipeline(config, setup), setup


def train(config: PipelineConfig, lock: execution.RunLock, progress: execution.Progress, *,
          staged_input: Optional[str] = None, image: str = '') -> TrainingRun:
    """Runs the training pipeline from this machine (prepare()'s arguments:
    staged_input, image); raises ComponentFailed naming the component that
    failed and why, RunStopped when a signal stopped it."""
    run_id = execution.new_run_id()
    progress.run_started(config.pipeline_name, run_id, config.home)
    started = time.time()
    try:
        tfx_pipeline, setup = _set_up(config, progress, staged_input, image)
    except execution.RunStopped:
        raise
    except interruption.Interrupted as stop:
        raise execution.RunStopped(stop.signum, 'before its first component') from stop
    try:
        execution.run_tracked(tfx_pipeline, run_id, config.store, lock, progress,
                              config.deterministic)
    except execution.ComponentFailed as failure:
        raise _diagnosed(failure, config, setup) from failure.__cause__
    runs = mlmd.load_runs(mlmd.connect(config.store))
    record = mlmd.find_run(runs, run_id)
    return TrainingRun(record, time.time() - started,
                       run_history.hyperparameter_source(record, runs), push_outcome(record))


def watch(config: PipelineConfig, lock: execution.RunLock, progress: execution.Progress,
          interval: float, once: bool = False) -> int:
    """Trains whenever a new span-<N>/ appears in the config's data root, checking
    every `interval` seconds (once: one check); how many runs it made. Stops at the
    first failed run (ComponentFailed)."""
    made = 0
    while True:
        span = spans.new_span(config.data_root, config.store, config.pipeline_name)
        if span is not None:
            progress.note(f'New span {span} in {config.data_root}: running the pipeline')
            progress.note(train(config, lock, progress).summary)
            made += 1
        if once:
            return made
        interruption.resume()          # a run stands as it ended; a stop now stops the watch
        time.sleep(interval)
