"""The pipeline's lifecycle as Apache Airflow runs it: what the DAGs of
pipeline/airflow_dags.py do in their tasks.

A training run on Airflow is the same run as `runner local`'s, split into a
task per TFX node: `prepare` works out the run (the schema staged, a window of
spans staged, the code version) and compiles the pipeline to TFX's
intermediate representation under the pipeline root, named by Airflow's run id;
each node's task then runs its node from there with TFX's portable launcher,
as LocalDagRunner runs each node. ML Metadata therefore records the run as any
other (a `pipeline_run` context named by Airflow's run id), `runner runs`,
lineage and the report read it, and it shares the cache with `runner local`.
(TFX's AirflowDagRunner runs TFX's pre-IR launchers, which record runs in
another ML Metadata layout that none of the rest reads; see docs/airflow.md.)

The settings a DAG file reads (DagSettings) are written by `runner airflow
start` into AIRFLOW_HOME, with the training DAG's nodes as the pipeline wires
them (compiled once there: parsing a DAG file must not import TFX). A run's
`prepare` keeps them as they are then for the run's node tasks
(AIRFLOW_HOME/runs/<run id>/), so that a start with other settings leaves a
run under way as it began.
"""

import dataclasses
import datetime
import json
import logging
import os
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from common.atomic_file import write_atomically
from common.exit_status import ProblemFound
from operations import execution, monitoring, spans, training_run
from pipeline import mlmd
from pipeline.airflow_dags import CONF_FINDING, CONF_REPORT, CONF_SPAN, Schedules
from pipeline.config import PipelineConfig
from pipeline.profiles import Profile
from pipeline.store_url import parse as parse_store

SETTINGS_FILE = 'taxi-pipeline.json'
IR_DIR = '.airflow-runs'
RUNS_DIR = 'runs'              # under AIRFLOW_HOME: each run's settings
TRIGGERED_SPAN_FILE = 'airflow-triggered-span'

Nodes = List[Tuple[str, List[str]]]


@dataclasses.dataclass(frozen=True)
class DagSettings:
    """What the DAGs run on and when: the training run's settings, monitoring's,
    the schedules, and the training DAG's nodes (id, upstream ids)."""

    home: str
    data_root: str
    spans: int = 1
    train_steps: int = PipelineConfig.train_steps
    min_auc: float = PipelineConfig.min_auc
    metadata_url: str = ''            # empty: SQLite in the home
    storage_root: str = ''            # empty: the home
    # The airflow profile's defaults (pipeline/profiles.py).
    training_schedule: Optional[str] = Profile.schedule
    monitoring_schedule: Optional[str] = Profile.monitoring_schedule
    span_check_seconds: float = Profile.span_check_seconds
    retries: int = Profile.retries
    retry_delay_seconds: float = Profile.retry_delay_seconds
    max_retry_delay_seconds: float = Profile.max_retry_delay_seconds
    lock_wait_seconds: float = Profile.lock_wait_seconds
    task_timeout_seconds: float = Profile.task_timeout_seconds
    requests: str = ''                # empty: HOME/request_logs
    metrics_url: str = ''
    min_examples: int = 50
    min_window_examples: int = 1000
    nodes: Nodes = dataclasses.field(default_factory=list)

    def config(self) -> PipelineConfig:
        """The training run's config (on spans when the data root holds them)."""
        metadata = parse_store(self.metadata_url) if self.metadata_url else None
        return training_run.local_config(
            self.home, self.data_root, self.spans, train_steps=self.train_steps,
            min_auc=self.min_auc, metadata=metadata, storage_root=self.storage_root or None)

    @property
    def schedules(self) -> Schedules:
        return Schedules(
            training=self.training_schedule, monitoring=self.monitoring_schedule,
            span_check=datetime.timedelta(seconds=self.span_check_seconds),
            retries=self.retries, retry_delay=datetime.timedelta(seconds=self.retry_delay_seconds),
            max_retry_delay=datetime.timedelta(seconds=self.max_retry_delay_seconds),
            task_timeout=datetime.timedelta(seconds=self.task_timeout_seconds),
            one_task_at_a_time=not self.metadata_url)

    def monitor_settings(self, config: PipelineConfig) -> monitoring.MonitorSettings:
        return monitoring.MonitorSettings(
            requests=self.requests or config.paths.request_logs_dir,
            model=config.model_name, metrics_url=self.metrics_url or None,
            min_examples=self.min_examples, min_window_examples=self.min_window_examples)


def write_settings(settings: DagSettings, directory: str) -> str:
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, SETTINGS_FILE)
    write_atomically(path, json.dumps(dataclasses.asdict(settings), indent=2))
    return path


def read_settings(directory: str) -> DagSettings:
    with open(os.path.join(directory, SETTINGS_FILE)) as f:
        values = json.load(f)
    values['nodes'] = [(node, list(upstream)) for node, upstream in values.get('nodes', [])]
    return DagSettings(**values)


def _run_directory(airflow_home: str, run_id: str) -> str:
    return os.path.join(airflow_home, RUNS_DIR, re.sub(r'[^A-Za-z0-9_.-]', '_', run_id))


def keep_run_settings(settings: DagSettings, airflow_home: str, run_id: str) -> None:
    """The settings a run was prepared with, for its node tasks: `runner airflow start`
    rewrites AIRFLOW_HOME's while a run works. Under AIRFLOW_HOME, since they say
    where the run's pipeline root is."""
    write_settings(settings, _run_directory(airflow_home, run_id))


def run_settings(airflow_home: str, run_id: str) -> DagSettings:
    """The settings a run was prepared with; ProblemFound when it was not prepared."""
    directory = _run_directory(airflow_home, run_id)
    if not os.path.exists(os.path.join(directory, SETTINGS_FILE)):
        raise ProblemFound(f'run {run_id} was not prepared ({directory} holds no '
                           f'{SETTINGS_FILE}): its `prepare` task must run first')
    return read_settings(directory)


def _compiled(config: PipelineConfig, setup: Optional[Any] = None) -> Any:
    """The training pipeline as TFX's intermediate representation (what LocalDagRunner
    runs)."""
    from tfx.orchestration.portable import tfx_runner

    from pipeline.config import RunSetup
    from pipeline.training_pipeline import create_training_pipeline
    return tfx_runner._make_pipeline_proto(create_training_pipeline(config, setup or RunSetup()))


def pipeline_nodes(config: PipelineConfig) -> Nodes:
    """The training pipeline's nodes in its order, each with the nodes it runs after:
    as compiled with spans and without (a Trainer warm-starts from the blessed
    model's resolver only with spans), so that the DAG holds either run."""
    upstream: Dict[str, List[str]] = {}
    for variant in (dataclasses.replace(config, spans=None),
                    dataclasses.replace(config, spans=config.spans or 1)):
        for node in _compiled(variant).nodes:
            info = node.pipeline_node
            found = upstream.setdefault(info.node_info.id, [])
            found.extend(n for n in info.upstream_nodes if n not in found)
    return [(node, parents) for node, parents in upstream.items()]


def _ir_path(config: PipelineConfig, run_id: str) -> str:
    name = re.sub(r'[^A-Za-z0-9_.-]', '_', run_id)
    return os.path.join(config.pipeline_root, IR_DIR, name, 'pipeline.pb')


def prepare_run(settings: DagSettings, run_id: str, conf: Dict[str, Any]) -> Dict[str, Any]:
    """The run worked out as `runner local` works it out (store, schema, spans, code
    version) and compiled under the pipeline root for its node tasks; what it is
    (the task's output)."""
    from tfx.dsl.compiler import constants
    from tfx.orchestration.portable import runtime_parameter_utils
    config = settings.config()
    recreated = mlmd.recreate_if_empty(config.store)
    if recreated:
        logging.info('%s', recreated)
    setup = training_run.prepare(config)
    ir = _compiled(config, setup)
    runtime_parameter_utils.substitute_runtime_parameter(
        ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id})
    path = _ir_path(config, run_id)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_atomically(path, ir.SerializeToString())
    return {'run_id': run_id, 'data_root': config.data_root, 'spans': config.spans,
            'input': setup.input_base(config), 'store': str(config.store),
            'triggered_by': {k: conf[k] for k in (CONF_SPAN, CONF_FINDING, CONF_REPORT)
                             if k in conf}}


class NodeFailed(execution.ComponentFailed):
    """A node's task failed; `retry` says whether trying again may help (not for data
    the validation gate refused: the same data fails the same way)."""

    def __init__(self, component: str, message: str, retry: bool):
        super().__init__(component, message)
        self.retry = retry


def _load_ir(config: PipelineConfig, run_id: str) -> Any:
    from tfx.proto.orchestration import pipeline_pb2
    path = _ir_path(config, run_id)
    if not os.path.exists(path):
        raise ProblemFound(f'run {run_id} was not prepared ({path} is missing): its '
                           '`prepare` task must run first')
    ir = pipeline_pb2.Pipeline()
    with open(path, 'rb') as f:
        ir.ParseFromString(f.read())
    return ir


def _launch(ir: Any, node_id: str, config: PipelineConfig) -> None:
    """Runs one node of a compiled run as LocalDagRunner does (its launcher, ML
    Metadata as configured)."""
    from tfx.orchestration import metadata
    from tfx.orchestration.local import runner_utils
    from tfx.orchestration.portable import launcher
    node = next((n.pipeline_node for n in ir.nodes if n.pipeline_node.node_info.id == node_id),
                None)
    if node is None:
        raise ProblemFound(f'node {node_id} is not in the run\'s pipeline')
    deployment = runner_utils.extract_local_deployment_config(ir)
    launcher.Launcher(
        pipeline_node=node,
        mlmd_connection=metadata.Metadata(mlmd.connection_config(config.store)),
        pipeline_info=ir.pipeline_info, pipeline_runtime_spec=ir.runtime_spec,
        executor_spec=runner_utils.extract_executor_spec(deployment, node_id),
        custom_driver_spec=runner_utils.extract_custom_driver_spec(deployment, node_id)).launch()


def _abandoned_before(config: PipelineConfig, run_id: str) -> List[str]:
    """The run's executions left RUNNING by a task whose process is gone (killed, its
    scheduler lost), recorded as abandoned: the caller holds the run lock, so no
    other task of the run is working. Their nodes."""
    if mlmd.store_condition(config.store)[0] != mlmd.READY:
        return []
    return mlmd.end_run(config.store, run_id, 'CANCELED', ended=mlmd.ABANDONED)


def run_node(settings: DagSettings, run_id: str, node_id: str, lock: execution.RunLock) -> str:
    """Runs one node of a prepared run, holding the run lock (`lock`); a line for
    the task's log. NodeFailed naming the node and why."""
    from pipeline.validation_gate import DataAnomaliesError
    config = settings.config()
    ir = _load_ir(config, run_id)
    for node in _abandoned_before(config, run_id):
        logging.warning('%s of run %s was left running by a task that is gone: abandoned',
                        node, run_id)
    lock.working_on(run_id)
    execution.batch_by_size()
    with execution.signed(config.store, run_id):
        try:
            _launch(ir, node_id, config)
        except Exception as error:  # named, with its cause, for the task's log and state
            message = execution.failure_message(node_id, error, config.store)
            raise NodeFailed(node_id, message,
                             retry=not isinstance(execution.real_cause(error),
                                                  DataAnomaliesError)) from error
    return _outcome(config, run_id, node_id)


def _outcome(config: PipelineConfig, run_id: str, node_id: str) -> str:
    from pipeline import component_ids as ids
    record = mlmd.find_run(mlmd.load_runs(mlmd.connect(config.store)), run_id)
    component = record.components.get(node_id)
    state = component.state if component else 'skipped'
    if node_id == ids.PUSHER:
        return f'{node_id}: {state}; {training_run.push_outcome(record)}'
    return f'{node_id}: {state}'


def _triggered_marker(config: PipelineConfig) -> str:
    return os.path.join(config.home, TRIGGERED_SPAN_FILE)


def new_span(settings: DagSettings) -> Optional[int]:
    """A span-<N>/ in the data root that no run trained on and no run was triggered
    for yet (mark_triggered, once its trigger succeeded: a span is triggered once
    while its run works); None otherwise."""
    config = settings.config()
    span = spans.new_span(config.data_root, config.store, config.pipeline_name)
    try:
        with open(_triggered_marker(config)) as f:
            triggered = int(f.read().strip() or -1)
    except (OSError, ValueError):
        triggered = -1
    return None if span is None or span <= triggered else span


def mark_triggered(settings: DagSettings, span: int) -> None:
    """Records that a training run was triggered for the span (in the home)."""
    config = settings.config()
    marker = _triggered_marker(config)
    os.makedirs(config.home, exist_ok=True)
    write_atomically(marker, str(span))


def check_traffic(settings: DagSettings) -> Dict[str, Any]:
    """`runner monitor`'s checks; the report with its findings and where it is."""
    config = settings.config()
    result = monitoring.monitor(config, settings.monitor_settings(config))
    return {**result.report, 'findings': result.findings, 'path': result.path,
            'lines': result.lines}


def retraining_conf(report: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The training run's configuration for a report's findings (None without)."""
    findings: Sequence[str] = report.get('findings') or ()
    if not findings:
        return None
    return {CONF_FINDING: {key: report.get(key) for key in findings},
            CONF_REPORT: report.get('path')}
