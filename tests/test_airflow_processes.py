"""Stopping what `runner airflow start` started, with real processes in sessions of
their own standing in for the scheduler and its task processes (no Airflow needed)."""

import os

import psutil
import pytest

from operations import local_airflow
from tests.support import recorded_session_leader, runner, wait_for


def _airflow(tmp_path):
    airflow = local_airflow.LocalAirflow(local_airflow.Installation(str(tmp_path / 'cache')),
                                         str(tmp_path / 'home'))
    os.makedirs(os.path.dirname(airflow.pid_file('scheduler')))
    return airflow


def _started_scheduler(airflow):
    """A leader in a session of its own, recorded as the scheduler; (it, its task)."""
    return recorded_session_leader(airflow.pid_file('scheduler'))


def test_stop_ends_the_task_processes_of_a_scheduler_that_died(tmp_path):
    airflow = _airflow(tmp_path)
    leader, task = _started_scheduler(airflow)
    try:
        leader.kill()
        leader.wait()
        assert local_airflow.running(airflow) == [] and task.is_running()
        assert local_airflow.stop(airflow) == ['scheduler']
        wait_for(lambda: not task.is_running(), 10)
        assert not os.path.exists(airflow.pid_file('scheduler'))
    finally:
        if task.is_running():
            task.kill()


def test_stop_leaves_alone_a_session_whose_leader_is_not_the_one_recorded(tmp_path):
    airflow = _airflow(tmp_path)
    leader, task = _started_scheduler(airflow)
    try:
        with open(airflow.pid_file('scheduler'), 'w') as f:       # as if the pid were reused
            f.write(f'{leader.pid} {psutil.Process(leader.pid).create_time() - 100}')
        assert local_airflow.stop(airflow) == []
        assert leader.poll() is None and task.is_running()
    finally:
        task.kill()
        leader.kill()
        leader.wait()


@pytest.mark.e2e
def test_start_with_other_flags_while_it_runs_is_refused_and_changes_nothing(tmp_path):
    airflow = _airflow(tmp_path)
    local_airflow.write_configuration(airflow)
    path = os.path.join(airflow.home, 'airflow.cfg')
    with open(path) as f:
        written = f.read()
    leader, task = _started_scheduler(airflow)
    try:
        refused = runner('airflow', 'start', '--airflow-home', airflow.home, '--cache',
                         str(tmp_path / 'cache'), '--port', str(airflow.port + 1),
                         '--home', str(tmp_path / 'tfx'), '--data-root', str(tmp_path))
        assert refused.returncode == 2, refused.stderr
        [line] = refused.stderr.strip().splitlines()
        assert line.startswith('error: Airflow runs from ' + airflow.home)
        assert f'--port {airflow.port + 1} (it runs on {airflow.port})' in line
        assert line.endswith('make airflow-stop first')
        with open(path) as f:
            assert f.read() == written
    finally:
        task.kill()
        leader.kill()
        leader.wait()
