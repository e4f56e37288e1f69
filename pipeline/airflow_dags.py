"""The Airflow DAGs of the pipeline's lifecycle, as definitions: their ids, tasks,
schedules, retries and how they trigger one another. What each task does is
given to them (runner/airflow_tasks.py gives the project's operations, each
under its run lock).

  <pipeline>               the training pipeline: one task per TFX node, named by
                           its node id, after `prepare` (the run's compiled
                           pipeline); scheduled by the profile (daily by default,
                           or only triggered), one run at a time
  <pipeline>-new-span      a sensor for a new span-<N>/ of data, which triggers
                           the training DAG with the span in its configuration
  <pipeline>-monitoring    served traffic against the training data
                           (`runner monitor`): a finding fails its check, and
                           triggers the training DAG with the finding in the
                           triggered run's configuration

Airflow is imported only here and in the functions that build the DAGs, so that
the rest of the project (and its lint) needs no Airflow. The DAGs use what
Airflow 2.11 and 3 both have: `schedule=`, operators that Airflow 3 keeps in its
standard provider (imported from there when it is installed), no SubDAGs, no
`schedule_interval`, no execution_date in templates.
"""

import dataclasses
import datetime
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

PREPARE_TASK = 'prepare'
SPAN_SENSOR_TASK = 'new_span'
TRIGGER_TASK = 'trigger_training'
CHECK_TASK = 'check_traffic'
FINDINGS_TASK = 'findings'
SPAN_SUFFIX, MONITORING_SUFFIX = '-new-span', '-monitoring'
# The training DAG's run configuration: what triggered it.
CONF_SPAN, CONF_FINDING, CONF_REPORT = 'span', 'finding', 'report'
START = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
# With ML Metadata in SQLite, every task that uses the store takes this pool's one
# slot: the training DAG's, the span sensor and monitoring's check (Airflow's own
# database on PostgreSQL runs tasks in parallel, whatever store ML Metadata has).
SQLITE_POOL = 'taxi-pipeline-sqlite-mlmd'
TAGS = ['taxi-pipeline']


@dataclasses.dataclass(frozen=True)
class Schedules:
    """When each DAG runs and how a failed task is tried again (on_airflow.DagSettings
    makes them from the airflow profile)."""

    training: Optional[str]          # None: only when triggered
    monitoring: Optional[str]
    span_check: datetime.timedelta
    retries: int
    retry_delay: datetime.timedelta
    max_retry_delay: datetime.timedelta
    # How long a task may take (its wait for the run lock too): an executor slot is
    # never held for ever.
    task_timeout: datetime.timedelta
    # One task at a time on the store (ML Metadata on SQLite: several writers at once
    # fail with "database is locked", tensorflow/tfx#199): the training DAG's
    # tasks, the span sensor and monitoring's check in SQLITE_POOL.
    one_task_at_a_time: bool

    @property
    def on_store(self) -> Dict[str, Any]:
        """The settings of a task that uses ML Metadata."""
        return {'pool': SQLITE_POOL} if self.one_task_at_a_time else {}


def pools(schedules: Schedules) -> Dict[str, int]:
    """The Airflow pools the DAGs use (name: slots), made when Airflow starts."""
    return {SQLITE_POOL: 1} if schedules.one_task_at_a_time else {}


# A task's body: called with the Airflow context's run id (and, for the
# training DAG's tasks, the node id); what it returns is the task's output (XCom).
NodeTask = Callable[[str, str], Any]


@dataclasses.dataclass(frozen=True)
class TrainingTasks:
    """What the training DAG's tasks do: prepare a run, and run one of its nodes."""

    prepare: Callable[[str, Dict[str, Any]], Any]   # (run id, the run's configuration)
    run_node: NodeTask                               # (run id, node id)


def _operators() -> Tuple[Any, Any, Any]:
    """(PythonOperator, PythonSensor, TriggerDagRunOperator): Airflow 3's standard
    provider when installed, else Airflow 2's own modules."""
    try:
        from airflow.providers.standard.operators.python import PythonOperator
        from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
        from airflow.providers.standard.sensors.python import PythonSensor
    except ImportError:
        from airflow.operators.python import PythonOperator
        from airflow.operators.trigger_dagrun import TriggerDagRunOperator
        from airflow.sensors.python import PythonSensor
    return PythonOperator, PythonSensor, TriggerDagRunOperator


def _dag(dag_id: str, schedule: Any, description: str, schedules: Schedules,
         **settings: Any) -> Any:
    from airflow import DAG
    return DAG(dag_id=dag_id, schedule=schedule, start_date=START, catchup=False,
               description=description, tags=TAGS, max_active_runs=1,
               render_template_as_native_obj=True,
               default_args={'retries': schedules.retries,
                             'retry_delay': schedules.retry_delay,
                             'retry_exponential_backoff': True,
                             'max_retry_delay': schedules.max_retry_delay,
                             'execution_timeout': schedules.task_timeout},
               **settings)


def _run_id(context: Dict[str, Any]) -> str:
    return str(context['run_id'])


def training_dag(pipeline_name: str, nodes: Sequence[Tuple[str, Sequence[str]]],
                 tasks: TrainingTasks, schedules: Schedules) -> Any:
    """The training DAG: `prepare`, then a task per node (node id, its upstream
    node ids) wired as the pipeline wires them."""
    python_operator, _, _ = _operators()
    dag = _dag(pipeline_name, schedules.training,
               'The TFX training pipeline, a task per component',
               schedules, max_active_tasks=1 if schedules.one_task_at_a_time else 16)

    def prepare(**context: Any) -> Any:
        conf = context['dag_run'].conf or {}
        return tasks.prepare(_run_id(context), dict(conf))

    def run(node: str) -> Callable[..., Any]:
        return lambda **context: tasks.run_node(_run_id(context), node)

    first = python_operator(task_id=PREPARE_TASK, python_callable=prepare, dag=dag,
                            **schedules.on_store)
    made = {node: python_operator(task_id=node, python_callable=run(node), dag=dag,
                                  **schedules.on_store)
            for node, _ in nodes}
    for node, upstream in nodes:          # wired once all are made: in any order
        for parent in upstream:
            made[parent] >> made[node]
        if not upstream:
            first >> made[node]
    return dag


@dataclasses.dataclass(frozen=True)
class SpanTasks:
    """find: a new span's number, else None; triggered: records that a training run
    was triggered for it (once the trigger succeeded: a trigger that failed loses
    no span)."""

    find: Callable[[], Optional[int]]
    triggered: Callable[[int], None]


def span_dag(pipeline_name: str, tasks: SpanTasks, schedules: Schedules) -> Any:
    """Checks for a new span-<N>/ every span_check; a new one triggers the training
    DAG with {'span': N}."""
    _, python_sensor, trigger = _operators()
    interval = schedules.span_check
    dag = _dag(pipeline_name + SPAN_SUFFIX, interval,
               'A new span-<N>/ of data triggers the training DAG', schedules)

    def found(**context: Any) -> Any:
        span = tasks.find()
        if span is None:
            return False
        context['ti'].xcom_push(key=CONF_SPAN, value=span)
        return True

    def triggered(context: Any, _: Any) -> None:
        tasks.triggered(int(context['ti'].xcom_pull(task_ids=SPAN_SENSOR_TASK, key=CONF_SPAN)))

    # One look per run (the next run looks again): a run's sensor pokes once, and is
    # skipped when it found nothing, its slot free in between (reschedule).
    sensor = python_sensor(task_id=SPAN_SENSOR_TASK, python_callable=found, dag=dag,
                           poke_interval=interval.total_seconds(),
                           timeout=interval.total_seconds() / 2, mode='reschedule',
                           soft_fail=True, retries=0, **schedules.on_store)
    # The span is recorded as triggered in the trigger task, after the training run
    # was made (post_execute: the task fails if it cannot be recorded).
    sensor >> trigger(task_id=TRIGGER_TASK, trigger_dag_id=pipeline_name, dag=dag,
                      conf={CONF_SPAN: "{{ ti.xcom_pull(task_ids='%s', key='%s') }}"
                            % (SPAN_SENSOR_TASK, CONF_SPAN)},
                      post_execute=triggered)
    return dag


@dataclasses.dataclass(frozen=True)
class MonitoringTasks:
    """check: the monitoring report (the task's output), raising `failure` with the
    findings named when it has any; findings: the training run's configuration
    for the last check's findings (None: no findings, nothing to retrain)."""

    check: Callable[[], Dict[str, Any]]
    findings: Callable[[Dict[str, Any]], Optional[Dict[str, Any]]]


def monitoring_dag(pipeline_name: str, tasks: MonitoringTasks, schedules: Schedules) -> Any:
    """check_traffic (fails on findings) -> findings (the training configuration,
    when the check failed with findings; skipped otherwise) -> trigger_training."""
    python_operator, _, trigger = _operators()
    from airflow.exceptions import AirflowSkipException
    dag = _dag(pipeline_name + MONITORING_SUFFIX, schedules.monitoring,
               'Served traffic against the training data; findings trigger retraining',
               schedules)

    def findings(**context: Any) -> Any:
        report = context['ti'].xcom_pull(task_ids=CHECK_TASK, key=CONF_REPORT)
        conf = tasks.findings(report) if report else None
        if conf is None:
            raise AirflowSkipException('no findings to retrain on')
        return conf

    check = python_operator(task_id=CHECK_TASK, python_callable=_pushing_report(tasks.check),
                            dag=dag, retries=0, **schedules.on_store)
    decide = python_operator(task_id=FINDINGS_TASK, python_callable=findings, dag=dag,
                             trigger_rule='all_failed', retries=0)
    check >> decide >> trigger(task_id=TRIGGER_TASK, trigger_dag_id=pipeline_name, dag=dag,
                               conf="{{ ti.xcom_pull(task_ids='%s') }}" % FINDINGS_TASK)
    return dag


def _pushing_report(check: Callable[[], Dict[str, Any]]) -> Callable[..., Any]:
    """The check, its report kept as the task's output even when it fails on findings."""
    def run(**context: Any) -> Any:
        from airflow.exceptions import AirflowFailException
        report = check()
        context['ti'].xcom_push(key=CONF_REPORT, value=report)
        if report.get('findings'):
            raise AirflowFailException(f'findings in served traffic: '
                                       f'{", ".join(report["findings"])} (report: '
                                       f'{report.get("path")})')
        return report
    return run


def all_dags(pipeline_name: str, nodes: Sequence[Tuple[str, Sequence[str]]],
             training: TrainingTasks, spans: SpanTasks,
             monitoring: MonitoringTasks, schedules: Schedules) -> List[Any]:
    return [training_dag(pipeline_name, nodes, training, schedules),
            span_dag(pipeline_name, spans, schedules),
            monitoring_dag(pipeline_name, monitoring, schedules)]
