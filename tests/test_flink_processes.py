"""Stopping what `runner flink-cluster start` started, with real processes in sessions
of their own standing in for the worker pool and its SDK workers (no Flink needed)."""

import os
import signal
import sys

import psutil
import pytest

from common.exit_status import ProblemFound
from operations import local_flink, local_processes
from tests.support import free_ports, recorded_session_leader, wait_for

# How a JobManager that cannot start ends its log: the cause is named on a line of its
# own, after stack frames that name exceptions too.
FAILED_START = '''
import sys
print("INFO  org.apache.flink.runtime.entrypoint.ClusterEntrypoint - Starting.")
print("ERROR org.apache.flink.runtime.entrypoint.ClusterEntrypoint - Could not start.")
print("org.apache.flink.runtime.entrypoint.ClusterEntrypointException: Failed to start.")
print("Caused by: java.net.BindException: Could not start rest endpoint on any port")
print("\\tat org.apache.flink.runtime.entrypoint.ClusterEntrypointException.<init>(x.java:1)")
print("\\t... 2 more")
sys.exit(1)
'''


def _started_worker_pool(tmp_path):
    """A leader in a session of its own, recorded as the cluster's worker pool; (the
    cluster, it, its SDK worker)."""
    cluster = local_flink.LocalCluster(local_flink.Installation(str(tmp_path / 'cache')),
                                       str(tmp_path / 'cluster'))
    os.makedirs(cluster.state_dir)
    leader, worker = recorded_session_leader(cluster.pid_file('worker-pool'))
    return cluster, leader, worker


def test_stop_ends_the_sdk_workers_of_a_worker_pool_that_died(tmp_path):
    cluster, leader, worker = _started_worker_pool(tmp_path)
    try:
        leader.kill()
        leader.wait()
        assert local_flink.running(cluster) == [] and worker.is_running()
        assert local_flink.stop(cluster) == ['worker-pool']
        wait_for(lambda: not worker.is_running(), 10)
        assert not os.path.exists(cluster.pid_file('worker-pool'))
    finally:
        if worker.is_running():
            worker.kill()


def test_killing_a_running_process_kills_its_session_too(tmp_path):
    cluster, leader, worker = _started_worker_pool(tmp_path)
    try:
        pool = psutil.Process(leader.pid)
        assert local_flink.running(cluster) == ['worker-pool']
        assert local_flink.stop_process(cluster, 'worker-pool', signal.SIGKILL, seconds=10)
        wait_for(lambda: not pool.is_running() and not worker.is_running(), 10)
        assert local_flink.running(cluster) == []
    finally:
        if worker.is_running():
            worker.kill()
        leader.kill()
        leader.wait()


def test_a_process_that_exits_while_starting_is_named_with_the_cause_its_log_gives(tmp_path):
    cluster = local_flink.LocalCluster(local_flink.Installation(str(tmp_path / 'cache')),
                                       str(tmp_path / 'cluster'),
                                       local_flink.Ports(*free_ports(6)))
    os.makedirs(cluster.log_dir)
    local_processes.start_recorded([sys.executable, '-c', FAILED_START], dict(os.environ),
                                   cluster.log_file('jobmanager'),
                                   cluster.pid_file('jobmanager'), cluster.state_dir)
    wait_for(lambda: local_flink.running(cluster) == [], 30)
    with pytest.raises(ProblemFound) as failed:
        local_flink.wait_until_ready(cluster, 30)
    assert str(failed.value) == (
        "the Flink cluster's jobmanager exited while starting: Caused by: "
        'java.net.BindException: Could not start rest endpoint on any port '
        f"(log: {cluster.log_file('jobmanager')})")
