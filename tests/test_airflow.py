"""The pipeline's DAGs on a real Apache Airflow (scheduler, LocalExecutor and
webserver) that these tests start and stop, on free ports, with Airflow's
database and ML Metadata on a PostgreSQL server of the test process: training
runs triggered through the REST API, by a new span and by monitoring's
findings; a task's process killed (retried), the scheduler killed (restarted),
bad data halted at validation. One Airflow and three training runs for the
module: each fixture builds on the one before (they run in that order
whichever test asks)."""

import base64
import json
import os
import random
import shutil
import signal
import tempfile
import urllib.error
import urllib.request

import psutil
import pytest

from operations import local_airflow, local_processes
from pipeline.mlmd import NoMetadataError
from tests.support import (
    PIPELINE_SAMPLE_ROWS,
    PIPELINE_TRAIN_STEPS,
    airflow_processes,
    free_ports,
    log_requests,
    new_database,
    read_rows,
    runner,
    store_runs,
    to_instance,
    versions,
    wait_for,
    write_csv,
)

pytestmark = [pytest.mark.e2e]

DAG = 'chicago-taxi'
SPANS_DAG, MONITORING_DAG = DAG + '-new-span', DAG + '-monitoring'
RUN_SECONDS = 900
TFX_TASKS = ['CsvExampleGen', 'RunManifest', 'StatisticsGen', 'ImportSchemaGen',
             'ExampleValidator', 'ExampleValidationGate', 'Transform',
             'latest_hyperparameters_resolver', 'Trainer', 'latest_blessed_model_resolver',
             'Evaluator', 'ServingCanary', 'Pusher']
# Quick settings for a test: training and monitoring only when triggered, spans
# looked for every few seconds, retries a second apart; a dead scheduler's tasks
# taken back within seconds.
QUICK = {'TAXI_SCHEDULE': 'none', 'TAXI_MONITORING_SCHEDULE': 'none',
         'TAXI_SPAN_CHECK_SECONDS': '10', 'TAXI_RETRIES': '2', 'TAXI_RETRY_DELAY_SECONDS': '1',
         'TAXI_MAX_RETRY_DELAY_SECONDS': '5', 'TAXI_TASK_TIMEOUT_SECONDS': '5400',
         'AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD': '10',
         'AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL': '5'}


class Airflow:
    """The module's Airflow: its home, address, credentials and the runs' places."""

    def __init__(self, root, server):
        self.root = root
        self.home = os.path.join(root, 'tfx_home')
        self.airflow_home = os.path.join(root, 'airflow_home')
        self.data_root = write_csv(read_rows(PIPELINE_SAMPLE_ROWS), os.path.join(root, 'data'))
        self.pipeline_root = os.path.join(root, 'shared')
        os.makedirs(self.pipeline_root)
        self.store = new_database(server, 'mlmd')
        database = new_database(server, 'airflow')
        self.port = free_ports(1)[0]
        self.args = ['airflow', 'start', '--airflow-home', self.airflow_home,
                     '--port', str(self.port), '--database', database.url,
                     '--home', self.home, '--metadata', self.store.url,
                     '--pipeline-root', self.pipeline_root, '--data-root', self.data_root,
                     '--train-steps', str(PIPELINE_TRAIN_STEPS), '--min-auc', '0.5']
        self.env = {**os.environ, **QUICK}
        self.url = self.password = None

    def start(self):
        result = runner(*self.args, env=self.env, timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
        lines = dict(line.split('=', 1) for line in result.stdout.splitlines()[-4:])
        self.url, self.password = lines['AIRFLOW_URL'], lines['AIRFLOW_PASSWORD']
        return result, lines

    def stop(self):
        return runner('airflow', 'stop', '--airflow-home', self.airflow_home, env=self.env)

    def api(self, path, method='GET', body=None, auth=True):
        headers = {'Content-Type': 'application/json'}
        if auth:
            token = base64.b64encode(f'admin:{self.password}'.encode()).decode()
            headers['Authorization'] = f'Basic {token}'
        request = urllib.request.Request(
            f'{self.url}/api/v1{path}', method=method, headers=headers,
            data=json.dumps(body).encode() if body is not None else None)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def trigger(self, dag, conf=None):
        return self.api(f'/dags/{dag}/dagRuns', 'POST', {'conf': conf or {}})['dag_run_id']

    def runs(self, dag):
        return self.api(f'/dags/{dag}/dagRuns?limit=100')['dag_runs']

    def finished(self, dag, run_id):
        """The run, once it ended."""
        def ended():
            run = self.api(f'/dags/{dag}/dagRuns/{run_id}')
            return run if run['state'] in ('success', 'failed') else None
        return wait_for(ended, RUN_SECONDS)

    def tasks(self, dag, run_id):
        found = self.api(f'/dags/{dag}/dagRuns/{run_id}/taskInstances?limit=100')
        return {t['task_id']: t for t in found['task_instances']}

    def pause(self, dag):
        self.api(f'/dags/{dag}?update_mask=is_paused', 'PATCH', {'is_paused': True})

    @property
    def served(self):
        return versions(os.path.join(self.pipeline_root, 'serving_model', 'chicago_taxi'))

    def record(self, run_id):
        return next(r for r in store_runs(self.store) if r.run_id == run_id)

    def component_running(self, run_id, node):
        """Whether the run's node is under way in ML Metadata (mid-node)."""
        try:
            record = self.record(run_id)
        except (StopIteration, NoMetadataError):    # not recorded yet
            return False
        component = record.components.get(node)
        return component is not None and component.state == 'RUNNING'

    def scheduler_pid(self):
        with open(os.path.join(self.airflow_home, 'run', 'scheduler.pid')) as f:
            return int(f.read().split()[0])


def _runs_json(airflow):
    result = runner('runs', '--home', airflow.home, '--metadata', airflow.store.url, '--json')
    assert result.returncode == 0, result.stderr
    return {run['run_id']: run for run in json.loads(result.stdout)}


def _task_runner(run_id, node):
    """The process running the node's task (Airflow names it so)."""
    for process in psutil.process_iter():
        try:
            title = ' '.join(process.cmdline())
        except psutil.Error:
            continue
        if title.startswith(f'airflow task runner: {DAG} {node} {run_id}'):
            return process
    return None


@pytest.fixture(scope='module')
def airflow(postgres_server):
    if not local_airflow.Installation(local_airflow.default_cache()).installed():
        pytest.skip('needs Airflow\'s virtualenv: make airflow-install')
    root = tempfile.mkdtemp(prefix='taxi-test-airflow-')
    made = Airflow(root, postgres_server)
    try:
        made.start()
        yield made
    finally:
        started = airflow_processes(made.airflow_home)
        stopped = made.stop()
        again = made.stop()
        shutil.rmtree(root, ignore_errors=True)
    assert stopped.returncode == 0 and stopped.stdout.startswith('Stopped: webserver, scheduler')
    assert again.stdout.startswith('No Airflow was running')
    assert started and not [p for p in started if p.is_running()]


@pytest.fixture(scope='module')
def first_run(airflow):
    """Run A: triggered through the REST API; its Trainer's task process killed -9
    while the Trainer works (Airflow tries it again)."""
    run_id = airflow.trigger(DAG)
    victim = wait_for(lambda: airflow.component_running(run_id, 'Trainer')
                      and _task_runner(run_id, 'Trainer'), RUN_SECONDS)
    victim.send_signal(signal.SIGKILL)
    return run_id, airflow.finished(DAG, run_id)


def _task_states(airflow, dag, run_id):
    """(task id: state, task id: task instance) of a DAG run."""
    tasks = airflow.tasks(dag, run_id)
    return {task: t['state'] for task, t in tasks.items()}, tasks


def test_start_is_safe_to_repeat_and_refuses_anonymous_requests(airflow):
    again, lines = airflow.start()
    assert 'Already running' in again.stdout
    assert list(lines) == ['AIRFLOW_HOME', 'AIRFLOW_URL', 'AIRFLOW_USER', 'AIRFLOW_PASSWORD']
    assert lines['AIRFLOW_URL'] == f'http://127.0.0.1:{airflow.port}'
    assert lines['AIRFLOW_USER'] == 'admin'
    with pytest.raises(urllib.error.HTTPError) as refused:
        airflow.api('/dags', auth=False)
    assert refused.value.code == 401
    assert sorted(d['dag_id'] for d in airflow.api('/dags')['dags']) == \
        sorted([DAG, SPANS_DAG, MONITORING_DAG])     # no example DAGs
    status = runner('airflow', 'status', '--airflow-home', airflow.airflow_home)
    assert status.returncode == 0 and 'scheduler, webserver' in status.stdout


def _upstream(airflow, dag):
    """Each task of a DAG as Airflow holds it: the tasks it runs after, its retries."""
    tasks = airflow.api(f'/dags/{dag}/tasks')['tasks']
    upstream = {t['task_id']: set() for t in tasks}
    for task in tasks:
        for child in task['downstream_task_ids']:
            upstream[child].add(task['task_id'])
    return upstream, {t['task_id']: (t['retries'], t['retry_exponential_backoff'],
                                     _seconds(t['execution_timeout'])) for t in tasks}


def _seconds(delta):
    return delta['days'] * 86400 + delta['seconds'] if delta else None


def test_the_training_dag_is_the_pipeline_a_task_per_component(airflow):
    upstream, retries = _upstream(airflow, DAG)
    assert sorted(upstream) == sorted(['prepare', *TFX_TASKS])
    assert upstream['CsvExampleGen'] == {'prepare'}
    assert upstream['Trainer'] == {'Transform', 'ImportSchemaGen',
                                   'latest_hyperparameters_resolver',
                                   'latest_blessed_model_resolver'}   # its warm start
    assert upstream['Pusher'] == {'Trainer', 'Evaluator', 'ServingCanary'}
    assert set(retries.values()) == {(2, True, 5400)}    # backoff and a time limit on every task
    details = airflow.api(f'/dags/{DAG}/details')
    assert details['max_active_runs'] == 1
    assert details['schedule_interval'] is None                       # TAXI_SCHEDULE=none
    monitoring, _ = _upstream(airflow, MONITORING_DAG)
    assert monitoring == {'check_traffic': set(), 'findings': {'check_traffic'},
                          'trigger_training': {'findings'}}


def test_a_run_triggered_through_the_api_is_retried_and_pushes_once(airflow, first_run):
    run_id, run = first_run
    assert run['state'] == 'success'
    states, tasks = _task_states(airflow, DAG, run_id)
    assert states == {task: 'success' for task in ['prepare', *TFX_TASKS]}
    assert tasks['Trainer']['try_number'] == 2            # killed once, tried again
    [version] = airflow.served                            # pushed once
    listed = _runs_json(airflow)[run_id]
    assert listed['state'] == 'complete' and listed['pushed_version'] == version




@pytest.fixture(scope='module')
def span_run(airflow, first_run):
    """Run B: a new span-1/ triggers it; the scheduler, its executor and task processes
    killed -9 while Transform works, then started again."""
    known = {r['dag_run_id'] for r in airflow.runs(DAG)}
    write_csv(read_rows(2 * PIPELINE_SAMPLE_ROWS)[PIPELINE_SAMPLE_ROWS:],
              os.path.join(airflow.data_root, 'span-1'))
    run = wait_for(lambda: next((r for r in airflow.runs(DAG) if r['dag_run_id'] not in known),
                                None), 120)
    run_id = run['dag_run_id']
    wait_for(lambda: airflow.component_running(run_id, 'Transform'), RUN_SECONDS)
    for process in local_processes.session(airflow.scheduler_pid()):
        process.kill()
    restarted, _ = airflow.start()
    return run, airflow.finished(DAG, run_id), restarted


def test_a_new_span_triggers_a_run_that_outlives_its_scheduler(airflow, span_run):
    triggered, run, restarted = span_run
    assert triggered['conf'] == {'span': 1}
    assert 'Started Airflow' in restarted.stdout
    assert run['state'] == 'success'
    states, _ = _task_states(airflow, DAG, run['dag_run_id'])
    assert set(states.values()) == {'success'}
    first, second = airflow.served                         # one push for the new span
    listed = _runs_json(airflow)
    assert listed[run['dag_run_id']]['state'] == 'complete'
    assert listed[run['dag_run_id']]['span'] == 1
    assert listed[run['dag_run_id']]['pushed_version'] == second
    assert not [r for r in listed.values() if r['state'].startswith(('running', 'abandoned'))]


def _shifted_traffic(schema):
    rows = read_rows()[2 * PIPELINE_SAMPLE_ROWS:2 * PIPELINE_SAMPLE_ROWS + 1200]
    random.Random(0).shuffle(rows)
    shifted = []
    for row in rows:
        instance = to_instance(row, schema)
        instance['payment_type'] = [b'Credit Card']
        instance['fare'] = [instance['fare'][0] * 4 + 20] if instance['fare'] else []
        shifted.append(instance)
    return shifted


@pytest.fixture(scope='module')
def monitored_run(airflow, span_run, schema):
    """Run C: served traffic shifted; the monitoring DAG, triggered through the API,
    triggers training, on a new span whose fares are not numbers (the span DAG
    paused first)."""
    airflow.pause(SPANS_DAG)
    # Pausing stops new tasks, not a poke under way or queued (its run stays running,
    # its sensor up for reschedule): span-2 is written once no task is.
    wait_for(lambda: not airflow.api(f'/dags/{SPANS_DAG}/dagRuns/~/taskInstances'
                                     '?state=queued&state=running')['task_instances'], 120)
    rows = read_rows(PIPELINE_SAMPLE_ROWS)
    for row in rows[:90]:
        row['fare'] = 'nan'
    write_csv(rows, os.path.join(airflow.data_root, 'span-2'))
    log_requests(os.path.join(airflow.home, 'request_logs', 'taxi'), _shifted_traffic(schema))
    known = {r['dag_run_id'] for r in airflow.runs(DAG)}
    monitoring_id = airflow.trigger(MONITORING_DAG)
    monitoring = airflow.finished(MONITORING_DAG, monitoring_id)
    training = wait_for(lambda: next((r for r in airflow.runs(DAG)
                                      if r['dag_run_id'] not in known), None), 120)
    return monitoring, training, airflow.finished(DAG, training['dag_run_id'])


def test_shifted_traffic_triggers_retraining_that_halts_on_bad_data(airflow, monitored_run):
    monitoring, triggered, run = monitored_run
    checks, _ = _task_states(airflow, MONITORING_DAG, monitoring['dag_run_id'])
    assert checks == {'check_traffic': 'failed', 'findings': 'success',
                      'trigger_training': 'success'}
    report = airflow.api(f'/dags/{MONITORING_DAG}/dagRuns/{monitoring["dag_run_id"]}/'
                         'taskInstances/check_traffic/xcomEntries/report')['value']
    assert 'payment_type' in report and "'findings': ['skew'" in report
    assert 'payment_type' in triggered['conf']['finding']['skew']
    assert triggered['conf']['report'].startswith(os.path.join(airflow.home, 'monitoring'))
    assert run['state'] == 'failed'
    states, tasks = _task_states(airflow, DAG, run['dag_run_id'])
    assert states['ExampleValidationGate'] == 'failed'
    assert tasks['ExampleValidationGate']['try_number'] == 1   # bad data: no retries
    assert states['Transform'] == states['Pusher'] == 'upstream_failed'
    assert len(airflow.served) == 2                            # nothing pushed
    listed = _runs_json(airflow)[run['dag_run_id']]
    assert listed['state'] == 'failed at ExampleValidationGate'
