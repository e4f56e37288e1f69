"""The pipeline on a Flink cluster on this machine against `runner local`, in one run.

    .venv/bin/python -m bench.flink [--factors 1 10] [--parallelism 2 1] [--workdir DIR]

For each factor (the embedded taxi data, or it N times over: bench/data.py) one
fresh `runner local` and one fresh `runner flink` per parallelism, on a cluster
this script starts on free ports (operations/local_flink.py, as `make flink`)
and stops at the end. Printed per run: wall seconds, seconds per component, and
the peak RSS of everything the run uses, sampled together: the driver's process
tree (`runner`), and for Flink the JobManager, the TaskManager, Beam's job server
and the SDK worker pool with its workers. Then, for each Flink run against the local
one: the ratio of times, the AUC's difference and whether the model's bytes are
the same; and what the cluster's parallelism buys at each factor.
"""

import common.bootstrap  # noqa: F401  (first: the environment before TensorFlow loads)

# isort: split

import argparse
import glob
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, NamedTuple

import psutil

from bench.data import data_for
from bench.measure import component_seconds, fresh
from operations import local_flink
from pipeline import mlmd
from pipeline.config import REPO_ROOT as REPO
from pipeline.store_url import Store

GB = float(1 << 30)
SAMPLE_EVERY = 0.2


class Result(NamedTuple):
    seconds: float
    auc: float              # the Evaluator's, on the eval split
    fingerprint: str        # the trained model's bytes (sha256 over its files)
    driver_gb: float        # peak RSS of the runner's process tree
    cluster_gb: float       # peak RSS of the cluster's processes (with the SDK workers)
    total_gb: float         # peak of the two together, sampled at the same moments
    components: Dict[str, float]


def _tree_rss(root: psutil.Process) -> int:
    total = 0
    try:
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def _cluster_roots(cluster: local_flink.LocalCluster) -> List[psutil.Process]:
    roots = []
    for process in local_flink.PROCESSES:
        with open(cluster.pid_file(process)) as f:
            roots.append(psutil.Process(int(f.read().split()[0])))
    return roots


def measured(command: List[str], env: Dict[str, str], log: str, home: str,
             cluster_roots: List[psutil.Process]) -> Result:
    """Runs the command, sampling its tree and the cluster's; its figures."""
    peaks = {'driver': 0, 'cluster': 0, 'total': 0}
    started = time.time()
    with open(log, 'a') as out:
        process = psutil.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)

    def sample() -> None:
        while process.poll() is None:
            driver = _tree_rss(process)
            cluster = sum(_tree_rss(root) for root in cluster_roots)
            for key, value in (('driver', driver), ('cluster', cluster),
                               ('total', driver + cluster)):
                peaks[key] = max(peaks[key], value)
            time.sleep(SAMPLE_EVERY)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = process.wait()
    seconds = time.time() - started
    sampler.join()
    if code != 0:
        raise RuntimeError(f'{command[2:4]} exited with {code}; see {log}')
    logs = sorted(glob.glob(os.path.join(home, 'logs', '*.log')))
    [record] = mlmd.load_runs(mlmd.connect(Store.sqlite(os.path.join(home, 'metadata.db'))))
    return Result(seconds, record.auc or 0.0, record.model_fingerprint or '',
                  peaks['driver'] / GB, peaks['cluster'] / GB, peaks['total'] / GB,
                  component_seconds(logs[-1]))


def _free_ports() -> local_flink.Ports:
    sockets = [socket.socket() for _ in range(6)]
    for sock in sockets:
        sock.bind(('127.0.0.1', 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return local_flink.Ports(*ports)


def print_result(label: str, result: Result) -> None:
    print(f'{label}: {result.seconds:.1f} s, peak RSS {result.total_gb:.2f} GB '
          f'(driver {result.driver_gb:.2f}, cluster {result.cluster_gb:.2f}), '
          f'eval AUC {result.auc:.4f}, model {result.fingerprint[:12]}', flush=True)
    for name, seconds in result.components.items():
        print(f'  {name:<34}{seconds:>8.1f}', flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--factors', type=int, nargs='+', default=[1, 10])
    parser.add_argument('--parallelism', type=int, nargs='+', default=[2, 1])
    parser.add_argument('--workdir', help='keeps data, homes and logs (default: a temp dir)')
    args = parser.parse_args()
    workdir = args.workdir or tempfile.mkdtemp(prefix='bench_flink_')
    os.makedirs(workdir, exist_ok=True)
    print(f'work dir {workdir}', flush=True)
    installation = local_flink.install(local_flink.default_cache(), print)
    cluster = local_flink.LocalCluster(installation, fresh(os.path.join(workdir, 'cluster')),
                                         _free_ports())
    os.makedirs(cluster.state_dir)
    local_flink.start(cluster)
    addresses = local_flink.addresses(cluster.ports)
    try:
        roots = _cluster_roots(cluster)
        for factor in args.factors:
            data = data_for(factor, workdir)
            home = fresh(os.path.join(workdir, f'local_{factor}x'))
            local = measured([sys.executable, '-m', 'runner', 'local', '--home', home,
                              '--data-root', data], dict(os.environ),
                             os.path.join(workdir, f'local_{factor}x.log'), home, [])
            print_result(f'{factor}x local', local)
            on_flink = {}
            for parallelism in args.parallelism:
                home = fresh(os.path.join(workdir, f'flink_{factor}x_p{parallelism}'))
                env = {**os.environ, 'TAXI_JOB_SERVER': addresses.job_server,
                       'TAXI_ENVIRONMENT_CONFIG': addresses.worker_pool,
                       'TAXI_PARALLELISM': str(parallelism)}
                on_flink[parallelism] = measured(
                    [sys.executable, '-m', 'runner', 'flink', '--home', home, '--data-root',
                     data, '--flink-master', addresses.flink_master], env,
                    os.path.join(workdir, f'flink_{factor}x_p{parallelism}.log'), home, roots)
                print_result(f'{factor}x flink, parallelism {parallelism}',
                             on_flink[parallelism])
                same = on_flink[parallelism].fingerprint == local.fingerprint
                print(f'  against local: x{on_flink[parallelism].seconds / local.seconds:.2f} '
                      f'time, AUC {on_flink[parallelism].auc - local.auc:+.5f}, the same '
                      f'model bytes: {"yes" if same else "NO"}', flush=True)
            if len(on_flink) > 1:
                low, high = min(on_flink), max(on_flink)
                print(f'{factor}x: parallelism {high} against {low}: '
                      f'x{on_flink[high].seconds / on_flink[low].seconds:.2f} time', flush=True)
    finally:
        local_flink.stop(cluster)
    return 0


if __name__ == '__main__':
    sys.exit(main())
