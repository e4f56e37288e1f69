"""`runner airflow start` and `stop` as a newcomer runs them: no store server, so
Airflow on SQLite with the SequentialExecutor and ML Metadata in SQLite (a pool of
one slot for the tasks on it); no pipeline run. The DAGs parsed, anonymous requests
refused, the admin given the stored password again, nothing left running."""

import base64
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request

import psutil
import pytest

from operations import local_airflow
from pipeline.airflow_dags import SQLITE_POOL
from tests.support import (
    PIPELINE_SAMPLE_ROWS,
    airflow_processes,
    free_ports,
    read_rows,
    runner,
    write_csv,
)

pytestmark = [pytest.mark.e2e]

DAGS = ['chicago-taxi', 'chicago-taxi-monitoring', 'chicago-taxi-new-span']
# Nothing scheduled: the DAGs are only read.
QUIET = {'TAXI_SCHEDULE': 'none', 'TAXI_MONITORING_SCHEDULE': 'none',
         'TAXI_SPAN_CHECK_SECONDS': '86400'}


def _api(url, path, password=None):
    headers = {}
    if password is not None:
        headers['Authorization'] = 'Basic ' + base64.b64encode(
            f'admin:{password}'.encode()).decode()
    call = urllib.request.Request(f'{url}/api/v1{path}', headers=headers)
    with urllib.request.urlopen(call, timeout=30) as response:
        return json.load(response)


def _started(args, env):
    result = runner(*args, env=env, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout, dict(line.split('=', 1) for line in result.stdout.splitlines()[-4:])


def _scheduler(airflow_home):
    with open(os.path.join(airflow_home, 'run', 'scheduler.pid')) as f:
        return psutil.Process(int(f.read().split()[0]))


def test_start_and_stop_with_no_store_server():
    cache = local_airflow.default_cache()
    if not local_airflow.Installation(cache).installed():
        pytest.skip('needs Airflow\'s virtualenv: make airflow-install')
    root = tempfile.mkdtemp(prefix='taxi-test-airflow-default-')
    airflow_home = os.path.join(root, 'airflow_home')
    env = {key: value for key, value in os.environ.items()
           if key not in ('TAXI_METADATA_URL', 'TAXI_PIPELINE_ROOT')}
    env.update(QUIET, TAXI_STORE_DIR=os.path.join(root, 'no-store'))   # no make store server
    args = ['airflow', 'start', '--cache', cache, '--airflow-home', airflow_home,
            '--port', str(free_ports(1)[0]), '--home', os.path.join(root, 'home'),
            '--data-root', write_csv(read_rows(PIPELINE_SAMPLE_ROWS), os.path.join(root, 'data'))]
    stop = ['airflow', 'stop', '--airflow-home', airflow_home]
    try:
        out, lines = _started(args, env)
        assert 'Started Airflow' in out and '(SequentialExecutor)' in out
        url, password = lines['AIRFLOW_URL'], lines['AIRFLOW_PASSWORD']
        with pytest.raises(urllib.error.HTTPError) as refused:
            _api(url, '/dags')
        assert refused.value.code == 401
        assert sorted(d['dag_id'] for d in _api(url, '/dags', password)['dags']) == DAGS
        assert _api(url, f'/pools/{SQLITE_POOL}', password)['slots'] == 1
        assert '--skip-serve-logs' in _scheduler(airflow_home).cmdline()
        assert runner(*stop, env=env).stdout.startswith('Stopped: webserver, scheduler')

        # A password file the admin never had (made for another database): the start
        # gives it to the admin.
        with open(os.path.join(airflow_home, 'admin-password'), 'w') as f:
            f.write('another-password-0123')
        out, lines = _started(args, env)
        assert lines['AIRFLOW_PASSWORD'] == 'another-password-0123'
        assert len(_api(url, '/dags', 'another-password-0123')['dags']) == 3
    finally:
        started = airflow_processes(airflow_home)
        stopped = runner(*stop, env=env)
        shutil.rmtree(root, ignore_errors=True)
    assert stopped.stdout.startswith('Stopped: webserver, scheduler'), stopped.stdout
    assert started and not [p for p in started if p.is_running()]
