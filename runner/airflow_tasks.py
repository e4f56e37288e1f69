"""Airflow's way into the project, as runner/cli.py is the terminal's: the DAGs of
pipeline/airflow_dags.py with their tasks, each doing one operation of
operations/on_airflow.py under the project's run lock.

Every task of a training run holds the lock for its node (the home's, and a
shared store's: runner/home_lock.py, runner/store_lock.py), waiting for
whoever holds it: the team's `runner local`, another task; for up to the
profile's lock_wait_seconds, then it fails naming the holder (Airflow tries it
again later), and no task takes over the profile's task_timeout_seconds. Airflow keeps one
run of the DAG at a time (max_active_runs=1); the lock keeps one node at a
time on the store, whoever runs it. A node that fails on the data (the
validation gate's anomalies) fails its task for good: a retry would fail the
same way. `dags/taxi_pipeline.py`, the file Airflow parses, calls dags().
"""

import os
from typing import Any, ContextManager, Dict, List, Optional

from operations import execution, on_airflow
from pipeline import airflow_dags
from runner import store_lock

HOME_VARIABLE = 'AIRFLOW_HOME'


def _settings() -> on_airflow.DagSettings:
    return on_airflow.read_settings(os.environ[HOME_VARIABLE])


def _lock(settings: on_airflow.DagSettings, command: str) -> ContextManager[execution.RunLock]:
    """The run lock, waited for up to the profile's lock_wait_seconds: then the task
    fails naming the holder, and Airflow tries it again later."""
    config = settings.config()
    return store_lock.hold(config.home, config.metadata, command, wait=True,
                           wait_seconds=settings.lock_wait_seconds)


def prepare(run_id: str, conf: Dict[str, Any]) -> Dict[str, Any]:
    """The run prepared with the settings as they are now, kept for its nodes."""
    settings = _settings()
    on_airflow.keep_run_settings(settings, os.environ[HOME_VARIABLE], run_id)
    with _lock(settings, 'airflow prepare'):
        return on_airflow.prepare_run(settings, run_id, conf)


def run_node(run_id: str, node: str) -> str:
    """The node's run, with the settings its run was prepared with; a failure on the
    data fails the task without retries."""
    settings = on_airflow.run_settings(os.environ[HOME_VARIABLE], run_id)
    try:
        with _lock(settings, f'airflow {node}') as lock:
            return on_airflow.run_node(settings, run_id, node, lock)
    except on_airflow.NodeFailed as failure:
        if failure.retry:
            raise
        from airflow.exceptions import AirflowFailException
        raise AirflowFailException(str(failure)) from failure


def new_span() -> Optional[int]:
    return on_airflow.new_span(_settings())


def span_triggered(span: int) -> None:
    on_airflow.mark_triggered(_settings(), span)


def check_traffic() -> Dict[str, Any]:
    return on_airflow.check_traffic(_settings())


def dags() -> Dict[str, Any]:
    """The DAGs by id, for the DAG file's globals (where Airflow finds them)."""
    settings = _settings()
    made: List[Any] = airflow_dags.all_dags(
        settings.config().pipeline_name, settings.nodes,
        airflow_dags.TrainingTasks(prepare=prepare, run_node=run_node),
        airflow_dags.SpanTasks(find=new_span, triggered=span_triggered),
        airflow_dags.MonitoringTasks(check=check_traffic,
                                     findings=on_airflow.retraining_conf),
        settings.schedules)
    return {dag.dag_id: dag for dag in made}
