"""What `runner flink` and `make flink` ask of Beam and Flink, without a cluster: the
flink profile, the Beam options each component's job gets, the cluster's Flink
configuration, and Flink's causes as a failed component reports them."""

import dataclasses
import pydoc

import pytest

from common.exit_status import UsageError
from operations import local_flink, on_flink
from pipeline import flink_runner
from pipeline.profiles import ProfileError, load_profile


def test_the_flink_profile_names_the_cluster_make_flink_starts_and_takes_overrides():
    profile = load_profile('flink', environ={})
    assert (profile.flink_master, profile.job_server, profile.environment_type,
            profile.environment_config, profile.parallelism, profile.runner_jars_on_cluster) \
        == ('127.0.0.1:8081', '127.0.0.1:8099', 'EXTERNAL', '127.0.0.1:50000', 2, True)
    overridden = load_profile('flink', environ={'TAXI_FLINK_MASTER': 'flink.internal:8081',
                                                'TAXI_PARALLELISM': '8',
                                                'TAXI_RUNNER_JARS_ON_CLUSTER': 'no'})
    assert (overridden.flink_master, overridden.parallelism,
            overridden.runner_jars_on_cluster) == ('flink.internal:8081', 8, False)


@pytest.mark.parametrize('environ, setting', [
    ({'TAXI_ENVIRONMENT_TYPE': 'LOOPBACK'}, 'environment_type'),
    ({'TAXI_FLINK_MASTER': 'http://flink:8081'}, 'flink_master'),
    ({'TAXI_RUNNER_JARS_ON_CLUSTER': 'maybe'}, 'runner_jars_on_cluster'),
    ({'TAXI_JOB_SERVER': ''}, 'job_server'),
])
def test_a_wrong_flink_setting_is_named(environ, setting):
    with pytest.raises(ProfileError, match=f"setting '{setting}'"):
        load_profile('flink', environ=environ)


def test_runner_flink_takes_flink_profiles_and_host_port_masters_only():
    with pytest.raises(UsageError, match="profile 'local' runs on local, not flink"):
        on_flink.cluster(load_profile('local', environ={}))
    with pytest.raises(UsageError, match='--flink-master flink: not HOST:PORT'):
        on_flink.cluster(load_profile('flink', environ={}), 'flink')
    assert on_flink.cluster(load_profile('flink', environ={}), 'h:1').flink_master == 'h:1'


def test_every_job_goes_to_the_cluster_with_our_package_and_workers_apart():
    cluster = on_flink.cluster(load_profile('flink', environ={}))
    args = on_flink.beam_args(cluster, '/home/packages/p.whl')
    assert f'--runner={on_flink.RUNNER}' in args
    assert pydoc.locate(on_flink.RUNNER) is flink_runner.FlinkClusterRunner
    assert '--flink_master=127.0.0.1:8081' in args and '--job_endpoint=127.0.0.1:8099' in args
    assert '--environment_type=EXTERNAL' in args and '--extra_package=/home/packages/p.whl' in args
    assert '--parallelism=2' in args and on_flink.NO_JARS_TO_STAGE in args
    assert not any(arg.startswith(('--setup_file', '--direct_')) for arg in args)
    shipping = on_flink.beam_args(dataclasses.replace(cluster, runner_jars_on_cluster=False,
                                                      parallelism=0), '/p.whl')
    assert on_flink.NO_JARS_TO_STAGE not in shipping
    assert not any(arg.startswith('--parallelism') for arg in shipping)


def test_the_cluster_loads_beam_parent_first_and_fails_jobs_at_once(tmp_path):
    installation = local_flink.Installation(local_flink.default_cache())
    ports = local_flink.Ports(1, 2, 3, 4, 5, 6)
    cluster = local_flink.LocalCluster(installation, str(tmp_path), ports)
    try:
        settings = local_flink.flink_configuration(cluster)
    except FileNotFoundError:
        pytest.skip('needs the Flink distribution `make flink-install` fetches')
    assert settings['classloader.resolve-order'] == 'parent-first'
    assert settings['restart-strategy.type'] == 'none'
    assert (settings['rest.port'], settings['jobmanager.rpc.port']) == (1, 2)
    assert settings['rest.bind-address'] == settings['taskmanager.bind-host'] == '127.0.0.1'
    assert settings['taskmanager.numberOfTaskSlots'] == 2
    assert '--add-opens=java.base/java.lang=ALL-UNNAMED' in settings['env.java.opts.all']


AT = '\tat org.apache.flink.runtime.executiongraph.ExecutionFailureHandler.handleFailure(X.java:1)'
PYTHON_FAILURE = '\n'.join([
    'org.apache.flink.runtime.JobException: Recovery is suppressed by NoRestartBackoffTimeStrategy',
    AT,
    'Caused by: java.lang.RuntimeException: Error received from SDK harness for instruction 5: '
    'Traceback (most recent call last):',
    '  File "/venv/lib/python3.10/site-packages/apache_beam/runners/worker/sdk_worker.py", '
    'line 311, in _execute',
    '    response = task()',
    '  File "/venv/lib/python3.10/pkgutil.py", line 700, in resolve_name',
    '    mod = importlib.import_module(modname)',
    "ModuleNotFoundError: No module named 'tests.support' [while running 'Map(resolve_name)']",
    '',
    AT])
JAVA_FAILURE = '\n'.join([
    'org.apache.flink.runtime.JobException: Recovery is suppressed by NoRestartBackoffTimeStrategy',
    AT,
    'Caused by: org.apache.flink.runtime.jobmaster.JobMasterException: TaskManager with id '
    '127.0.0.1:34481-48eef3 is no longer reachable.',
    AT])


@pytest.mark.parametrize('trace, cause', [
    (PYTHON_FAILURE,
     "ModuleNotFoundError: No module named 'tests.support' [while running 'Map(resolve_name)']"),
    (JAVA_FAILURE, 'org.apache.flink.runtime.jobmaster.JobMasterException: TaskManager with '
                   'id 127.0.0.1:34481-48eef3 is no longer reachable.'),
    ('java.lang.IllegalStateException: no slots\n\tat X.y(X.java:1)\n',
     'java.lang.IllegalStateException: no slots'),
    ('', None),
])
def test_a_failed_job_is_told_by_its_innermost_cause(trace, cause):
    assert flink_runner.innermost_cause(trace) == cause
