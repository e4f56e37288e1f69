"""Airflow's configuration and pins, the airflow profile, a run's settings and the
training DAG's nodes as TFX compiles them: no Airflow needed (test_airflow.py has
the DAGs as a running Airflow holds them)."""

import dataclasses
import os
import re
import stat

import pytest

from common.exit_status import ProblemFound
from operations import local_airflow, on_airflow
from pipeline.config import DEFAULT_DATA_ROOT, REPO_ROOT
from pipeline.profiles import ProfileError, load_profile, schedule
from tests.support import read_rows, runner, write_csv

# What Airflow 2.11 cannot take from requirements.lock (requirements-airflow.in).
AIRFLOW_OWN_PINS = re.compile(r'(werkzeug|opentelemetry-[a-z-]+|rich)$')


def _pins(name):
    with open(os.path.join(REPO_ROOT, name)) as f:
        return dict(re.match(r'([A-Za-z0-9_.\-\[\]]+)==(\S+)', line).groups()
                    for line in f if re.match(r'[A-Za-z0-9]', line))


def test_airflow_keeps_every_pin_of_the_pipeline_but_its_own_few():
    pipeline, airflow = _pins('requirements.lock'), _pins('requirements-airflow.lock')
    differ = {name for name, version in pipeline.items() if airflow.get(name) != version}
    assert differ and all(AIRFLOW_OWN_PINS.match(name) for name in differ), differ
    assert airflow['apache-airflow'] == local_airflow.AIRFLOW_VERSION
    for name in ('tfx', 'tensorflow', 'apache-beam', 'ml-metadata', 'protobuf'):
        assert airflow[name] == pipeline[name]


def test_the_airflow_profile_and_its_settings():
    profile = load_profile('airflow', environ={})
    assert (profile.schedule, profile.retries) == ('@daily', 2)
    assert schedule('none') is None and schedule('@hourly') == '@hourly'
    assert load_profile('airflow', environ={'TAXI_SCHEDULE': 'none'}).schedule == 'none'
    with pytest.raises(ProfileError, match="'retries': must be 0 or more.*TAXI_RETRIES"):
        load_profile('airflow', environ={'TAXI_RETRIES': '-1'})
    with pytest.raises(ProfileError, match="'span_check_seconds': must be at least 1"):
        load_profile('airflow', environ={'TAXI_SPAN_CHECK_SECONDS': '0'})
    with pytest.raises(ProfileError, match="'lock_wait_seconds': must be less than "
                                           'task_timeout_seconds'):
        load_profile('airflow', environ={'TAXI_LOCK_WAIT_SECONDS': '600',
                                         'TAXI_TASK_TIMEOUT_SECONDS': '600'})


def test_airflow_listens_on_loopback_with_basic_auth_only_and_no_examples(tmp_path):
    airflow = local_airflow.LocalAirflow(local_airflow.Installation(str(tmp_path / 'cache')),
                                         str(tmp_path / 'home'), 18123)
    os.makedirs(airflow.home)
    config = local_airflow.configuration(airflow)
    assert config['api']['auth_backends'] == 'airflow.api.auth.backend.basic_auth'
    assert config['core']['load_examples'] == 'False'
    assert config['core']['executor'] == 'SequentialExecutor'
    assert config['database']['sql_alchemy_conn'].startswith('sqlite:///' + airflow.home)
    assert config['webserver']['web_server_host'] == '127.0.0.1'
    assert config['webserver']['expose_config'] == 'False'
    assert config == local_airflow.configuration(airflow)      # its secrets made once
    for secret in ('fernet-key', 'webserver-secret'):
        assert stat.S_IMODE(os.stat(os.path.join(airflow.home, secret)).st_mode) == 0o600
    on_server = local_airflow.LocalAirflow(airflow.installation, airflow.home, 18123,
                                           'postgresql+psycopg2://u@127.0.0.1:5/airflow')
    assert local_airflow.configuration(on_server)['core']['executor'] == 'LocalExecutor'


def test_the_scheduler_serves_no_logs_on_a_port_of_its_own(tmp_path):
    """serve-logs listens on 8793 on every interface: neither executor starts it."""
    installation = local_airflow.Installation(str(tmp_path / 'cache'))
    for database in ('', 'postgresql+psycopg2://u@127.0.0.1:5/airflow'):
        airflow = local_airflow.LocalAirflow(installation, str(tmp_path / 'home'), 18123,
                                             database)
        argv = local_airflow._argv(airflow, 'scheduler')
        assert '--skip-serve-logs' in ' '.join(argv), (airflow.executor, argv)


def test_a_run_keeps_the_settings_it_was_prepared_with(tmp_path):
    airflow_home = str(tmp_path / 'airflow')
    prepared = on_airflow.DagSettings(home=str(tmp_path / 'a'), data_root=DEFAULT_DATA_ROOT,
                                      nodes=[('CsvExampleGen', [])])
    with pytest.raises(ProblemFound, match='run manual__1 was not prepared'):
        on_airflow.run_settings(airflow_home, 'manual__1')
    on_airflow.keep_run_settings(prepared, airflow_home, 'manual__1')
    on_airflow.write_settings(dataclasses.replace(prepared, home=str(tmp_path / 'b')),
                              airflow_home)                     # a start since
    assert on_airflow.run_settings(airflow_home, 'manual__1') == prepared


def test_the_training_dags_nodes_compiled_as_on_airflow_compiles_a_run(tmp_path):
    """Through TFX's private tfx_runner._make_pipeline_proto, as LocalDagRunner: a TFX
    that changes it fails here."""
    settings = on_airflow.DagSettings(home=str(tmp_path), data_root=DEFAULT_DATA_ROOT)
    nodes = dict(on_airflow.pipeline_nodes(settings.config()))
    assert nodes['CsvExampleGen'] == []
    assert set(nodes['Trainer']) == {'Transform', 'ImportSchemaGen',
                                     'latest_hyperparameters_resolver',
                                     'latest_blessed_model_resolver'}
    assert set(nodes['Pusher']) == {'Trainer', 'Evaluator', 'ServingCanary'}


def test_a_span_stays_new_until_its_training_run_was_triggered(tmp_path):
    data = tmp_path / 'data'
    write_csv(read_rows(5), str(data / 'span-1'))
    settings = on_airflow.DagSettings(home=str(tmp_path / 'home'), data_root=str(data))
    assert on_airflow.new_span(settings) == 1
    assert on_airflow.new_span(settings) == 1         # found, its trigger not done yet
    on_airflow.mark_triggered(settings, 1)
    assert on_airflow.new_span(settings) is None
    write_csv(read_rows(5), str(data / 'span-2'))
    assert on_airflow.new_span(settings) == 2


@pytest.mark.parametrize('flag', ['--metadata', '--database'])
def test_a_store_url_with_its_password_is_refused_before_anything_starts(tmp_path, flag):
    """Airflow's tasks get a store's URL without its password (it is never written
    down): one given in the URL is refused by name, and shown nowhere."""
    result = runner('airflow', 'start', '--cache', str(tmp_path / 'cache'),
                    '--pipeline-root', str(tmp_path / 'root'),
                    flag, 'postgresql://alice:s3cret@127.0.0.1:9/mlmd', timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith('error: postgresql://alice@127.0.0.1:9/mlmd has its '
                                    'password in the URL'), result.stderr
    assert 'PGPASSWORD' in result.stderr and len(result.stderr.splitlines()) == 1
    assert 's3cret' not in result.stdout + result.stderr
    assert not os.path.exists(tmp_path / 'cache')
