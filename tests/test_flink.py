"""The pipeline on a real Apache Flink cluster (`runner flink`): Flink 1.19, Beam's
job server and Beam's SDK worker pool, started here on free ports by the module's
fixture and stopped after it. Flink's REST API says which jobs ran there and how
they ended; processes are stopped and killed for real."""

import os
import signal
import subprocess
import sys
import time

import pytest

from operations import local_flink, on_flink
from pipeline import flink_runner
from pipeline.config import REPO_ROOT
from tests.support import (
    PIPELINE_TRAIN_STEPS,
    assert_batch_agrees_with_online,
    copy_home,
    free_ports,
    read_rows,
    runner,
    runs,
    serving_model_dir,
    versions,
    wait_for,
    write_csv,
)

pytestmark = [pytest.mark.e2e, pytest.mark.flink]

# The training pipeline's Beam components: each one Flink job, named after it.
BEAM_COMPONENTS = ('CsvExampleGen', 'StatisticsGen', 'Transform', 'Evaluator')


@pytest.fixture(scope='module')
def cluster(tmp_path_factory):
    """A Flink cluster of this module's own on free ports, stopped when it is done."""
    installation = local_flink.install(local_flink.default_cache(), lambda line: None)
    cluster = local_flink.LocalCluster(
        installation, str(tmp_path_factory.mktemp('flink')),
        local_flink.Ports(*free_ports(6)))
    local_flink.start(cluster)
    try:
        yield cluster
    finally:
        local_flink.stop(cluster)


def _master(cluster):
    return local_flink.addresses(cluster.ports).flink_master


def _environment(cluster):
    addresses = local_flink.addresses(cluster.ports)
    return {**os.environ, 'TAXI_JOB_SERVER': addresses.job_server,
            'TAXI_ENVIRONMENT_CONFIG': addresses.worker_pool}


def _flink_args(cluster, home, data_root, *extra):
    return ['flink', '--home', str(home), '--data-root', data_root, '--flink-master',
            _master(cluster), '--train-steps', str(PIPELINE_TRAIN_STEPS), '--min-auc', '0.5',
            *extra]


def run_flink(cluster, *args, timeout=900):
    return subprocess.run([sys.executable, '-m', 'runner', *args], capture_output=True,
                          text=True, cwd=REPO_ROOT, timeout=timeout, env=_environment(cluster))


def started_flink(cluster, *args):
    return subprocess.Popen([sys.executable, '-m', 'runner', *args], cwd=REPO_ROOT,
                            env=_environment(cluster), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def jobs_since(cluster, started):
    """{component: Flink job} of the jobs started since `started` (seconds), by the
    component their name starts with (`Transform-3f2a9c1e`)."""
    return {job['name'].rsplit('-', 1)[0]: job for job in flink_runner.jobs(_master(cluster))
            if job['start-time'] >= started * 1000}


def running_job(cluster, component, started):
    job = jobs_since(cluster, started).get(component)
    return job if job and job['state'] == 'RUNNING' else None


def job_state(cluster, jid):
    return next(job['state'] for job in flink_runner.jobs(_master(cluster)) if job['jid'] == jid)


def split_sizes(record):
    import tensorflow_data_validation as tfdv
    return {split: tfdv.load_stats_binary(os.path.join(
        record.statistics.uri, f'Split-{split}', 'FeatureStats.pb')).datasets[0].num_examples
        for split in ('train', 'eval')}


def one_error_line(stderr):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), stderr
    return lines[0]


def test_a_damaged_batch_halts_on_flink_and_nothing_is_pushed(cluster, tmp_path):
    rows = read_rows(3000)
    for row in rows[:50]:
        row['trip_miles'] = '-40'        # the schema's domain: miles are not negative
    data = write_csv(rows, str(tmp_path / 'damaged'))
    started = time.time()
    result = run_flink(cluster, *_flink_args(cluster, tmp_path / 'home', data))
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'ExampleValidationGate failed' in one_error_line(result.stderr)
    assert 'trip_miles' in result.stderr
    assert {name: job['state'] for name, job in jobs_since(cluster, started).items()} == \
        {'CsvExampleGen': 'FINISHED', 'StatisticsGen': 'FINISHED'}
    assert versions(serving_model_dir(str(tmp_path / 'home'))) == []


def test_workers_get_our_code_only_from_the_staged_package(cluster, tmp_path):
    """A module the package holds imports on the workers; one it does not hold (tests/
    is not in setup.py) is missing there, as it would be on Dataflow."""
    import inspect
    import pkgutil

    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    package = on_flink.build_package(str(tmp_path / 'packages'))
    args = [*on_flink.beam_args(on_flink.cluster(flink_profile(cluster)), package),
            '--job_name=StagedCode']

    def imported_on_workers(name):
        """The file a function is read from on the workers, found there by its name."""
        output = str(tmp_path / name.replace(':', '.'))
        # Options of its own: Beam's portable runner clears the runner of the ones it ran.
        with beam.Pipeline(options=PipelineOptions(args)) as pipeline:
            _ = (pipeline | beam.Create([name]) | beam.Map(pkgutil.resolve_name)
                 | beam.Map(inspect.getfile) | beam.io.WriteToText(output))
        with open(output + '-00000-of-00001') as f:
            return f.read().strip()

    imported = imported_on_workers('common.csv_header:repeated_names')
    assert imported.endswith('/common/csv_header.py')
    assert not imported.startswith(REPO_ROOT)       # the staged package's copy
    with pytest.raises(flink_runner.FlinkJobFailed) as failed:
        imported_on_workers('tests.support:versions')
    assert "ModuleNotFoundError: No module named 'tests.support'" in str(failed.value)


def flink_profile(cluster):
    """The flink profile, pointed at the module's cluster."""
    import dataclasses

    from operations import cloud
    addresses = local_flink.addresses(cluster.ports)
    return dataclasses.replace(cloud.named_profile('flink'),
                               flink_master=addresses.flink_master,
                               job_server=addresses.job_server,
                               environment_config=addresses.worker_pool)


def test_a_run_stopped_then_failed_on_flink_resumes_and_trains_the_local_model(
        cluster, pipeline_home, tmp_path):
    """On the shared sample as `runner local` ran it (pipeline_home): Ctrl-C cancels
    StatisticsGen's job on the cluster; a TaskManager killed under Transform's job fails
    the run naming them; with the cluster back the next run resumes from the cache and
    gives the local run's splits, anomalies (none), AUC and model bytes, pushed once;
    `runner reproduce` runs it on Flink again, every Beam component a FINISHED job."""
    home = tmp_path / 'home'
    started = time.time()
    process = started_flink(cluster, *_flink_args(cluster, home, pipeline_home[1]))
    job = wait_for(lambda: running_job(cluster, 'StatisticsGen', started), 300)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert 'stopped by SIGINT at StatisticsGen' in one_error_line(stderr)
    wait_for(lambda: job_state(cluster, job['jid']) == 'CANCELED', 60)

    started = time.time()
    process = started_flink(cluster, *_flink_args(cluster, home, pipeline_home[1]))
    wait_for(lambda: running_job(cluster, 'Transform', started), 300)
    local_flink.stop_process(cluster, 'taskmanager', signal.SIGKILL)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 1, stderr
    assert 'Transform failed: FlinkJobFailed: Flink job Transform-' in one_error_line(stderr)
    assert versions(serving_model_dir(str(home))) == []

    local_flink.start_process(cluster, 'taskmanager')
    local_flink.wait_until_ready(cluster)
    result = run_flink(cluster, *_flink_args(cluster, home, pipeline_home[1]))
    assert result.returncode == 0, result.stdout + result.stderr
    resumed, here = runs(str(home))[0], pipeline_home[3]
    assert [resumed.components[name].state for name in BEAM_COMPONENTS] == \
        ['CACHED', 'CACHED', 'COMPLETE', 'COMPLETE']
    assert split_sizes(resumed) == split_sizes(here)
    assert resumed.auc == pytest.approx(here.auc, abs=1e-3)
    assert resumed.model_fingerprint == here.model_fingerprint
    assert len(versions(serving_model_dir(str(home)))) == 1

    started = time.time()
    again = runner('reproduce', resumed.run_id, '--home', str(home), '--into',
                   str(tmp_path / 'again'))
    assert again.returncode == 0, again.stdout + again.stderr
    assert 'same model' in again.stdout
    assert {name: job['state'] for name, job in jobs_since(cluster, started).items()} == \
        {name: 'FINISHED' for name in BEAM_COMPONENTS}


def test_batch_predictions_on_flink_agree_with_the_model_server(cluster, pipeline_home,
                                                               tmp_path):
    import csv

    input_dir = write_csv(read_rows(4000)[-150:], str(tmp_path / 'input'))
    home = copy_home(pipeline_home[0], tmp_path / 'home')
    started = time.time()
    result = run_flink(cluster, 'batch-predict', '--profile', 'flink', '--flink-master',
                       _master(cluster), '--input', input_dir, '--output',
                       str(tmp_path / 'output'), '--home', home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert {name: job['state'] for name, job in jobs_since(cluster, started).items()} == \
        {'CsvExampleGen': 'FINISHED', 'BulkInferrer': 'FINISHED'}
    with open(tmp_path / 'output' / 'predictions.csv') as f:
        batch_rows = list(csv.DictReader(f))
    assert_batch_agrees_with_online(pipeline_home[0], input_dir, batch_rows)


def test_an_unreachable_cluster_or_job_server_is_named_with_what_to_do(cluster, tmp_path):
    [closed] = free_ports(1)
    result = run_flink(cluster, 'flink', '--home', str(tmp_path / 'h'), '--flink-master',
                       f'127.0.0.1:{closed}')
    assert result.returncode == 2
    line = one_error_line(result.stderr)
    assert f'127.0.0.1:{closed}' in line and 'make flink' in line
    environment = {**_environment(cluster), 'TAXI_JOB_SERVER': f'127.0.0.1:{closed}'}
    result = subprocess.run([sys.executable, '-m', 'runner', 'flink', '--home',
                             str(tmp_path / 'h'), '--flink-master', _master(cluster)],
                            capture_output=True, text=True, cwd=REPO_ROOT, env=environment)
    assert result.returncode == 2
    line = one_error_line(result.stderr)
    assert f'job server answers at 127.0.0.1:{closed}' in line and 'make flink' in line
    assert not os.path.exists(tmp_path / 'h')


def test_make_flink_starts_and_stops_a_cluster_and_both_are_safe_to_repeat(tmp_path):
    state = str(tmp_path / 'cluster')
    ports = free_ports(6)
    flags = [f'--{name}-port={port}' for name, port in
             zip(('rest', 'rpc', 'job', 'artifact', 'expansion', 'worker-pool'), ports,
                 strict=True)]

    def cluster_command(action):
        return runner('flink-cluster', action, '--state', state, *flags, timeout=300)

    try:
        started = cluster_command('start')
        assert started.returncode == 0, started.stdout + started.stderr
        assert f'http://127.0.0.1:{ports[0]}' in started.stdout
        assert f'--flink-master 127.0.0.1:{ports[0]}' in started.stdout
        overview = local_flink.overview(f'127.0.0.1:{ports[0]}')
        assert (overview['taskmanagers'], overview['slots-total']) == (1, 2)
        again = cluster_command('start')
        assert again.returncode == 0 and 'Already running.' in again.stdout, again.stderr
        assert cluster_command('status').returncode == 0
    finally:
        stopped = cluster_command('stop')
    assert stopped.returncode == 0 and 'Stopped: worker-pool, job-server, taskmanager, ' \
        'jobmanager.' in stopped.stdout, stopped.stdout + stopped.stderr
    assert 'No Flink cluster was running' in cluster_command('stop').stdout
    assert cluster_command('status').returncode == 1
    with pytest.raises(OSError):
        local_flink.overview(f'127.0.0.1:{ports[0]}', timeout=2)
