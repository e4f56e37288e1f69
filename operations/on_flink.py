"""The training and batch pipelines with their Beam components on an Apache Flink
cluster (`runner flink`, `runner batch-predict --profile flink`): a profile in,
Beam options out, and the cluster checked before a run starts.

LocalDagRunner orchestrates here; each Beam component is a job submitted
through Beam's job server (pipeline/flink_runner.py). The SDK workers run apart
from this process (a worker pool, or processes the TaskManagers start) and get
this project's code only as Dataflow's workers do: a package built from
setup.py, staged with each job (--extra_package), which Beam's boot installs
before the worker starts.
"""

import dataclasses
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.error
from typing import Optional, Tuple

from common.exit_status import ProblemFound, UsageError
from operations import execution, training_run
from pipeline.config import REPO_ROOT, PipelineConfig
from pipeline.profiles import HOST_PORT, Profile

# Beam's --runner for the cluster: pipeline/flink_runner.py, which imports Beam (named
# here as a string, so that the command line does not load Beam).
RUNNER = 'pipeline.flink_runner.FlinkClusterRunner'
# How long a job keeps its SDK environment after a stage: its stages run one after
# another, and a new environment costs seconds (a virtualenv, our package installed,
# TensorFlow imported); kept longer, a finished job's worker (~1 GB) outlives it beside
# the next job's.
ENVIRONMENT_CACHE_MILLIS = 10_000
# Beam 2.59's Python SDK also bounds a job's state stream by this (default 60 s).
JOB_SERVER_TIMEOUT_SECONDS = 24 * 3600
PACKAGE_NAME = 'tfx_taxi_pipeline'
# The packages setup.py makes of the checkout (with their data files).
PACKAGE_DIRS = ('common', 'models', 'serving', 'pipeline', 'operations', 'runner')
# Our class (operations/flink_job_server) that stages no jars, and Beam's option for it.
NO_JARS_TO_STAGE = ('--pipeline_resources_detector_factory_class='
                    'taxipipeline.flink.ClusterClasspath')
PACKAGES = 'packages'   # under the home: the package the workers install
CLUSTER_HINT = 'start one with `make flink`, or name yours with --flink-master'


@dataclasses.dataclass(frozen=True)
class Cluster:
    """Where the run goes: the profile's addresses, --flink-master over its own."""

    flink_master: str
    job_server: str
    environment_type: str
    environment_config: str
    parallelism: int
    runner_jars_on_cluster: bool



def cluster(profile: Profile, flink_master: Optional[str] = None) -> Cluster:
    """The profile's cluster (a `runner: flink` profile), with --flink-master over its
    own REST address; UsageError naming what is wrong."""
    if profile.runner != 'flink':
        raise UsageError(f"profile '{profile.name}' runs on {profile.runner}, not flink: "
                         'use --profile flink, or a profile with runner: flink')
    if flink_master is not None and not re.fullmatch(HOST_PORT, flink_master):
        raise UsageError(f'--flink-master {flink_master}: not HOST:PORT')
    return Cluster(flink_master or profile.flink_master, profile.job_server,
                   profile.environment_type, profile.environment_config, profile.parallelism,
                   profile.runner_jars_on_cluster)


def _answers(address: str, seconds: float = 5.0) -> bool:
    host, _, port = address.rpartition(':')
    try:
        with socket.create_connection((host, int(port)), timeout=seconds):
            return True
    except (OSError, ValueError):
        return False


def check_reachable(cluster: Cluster) -> None:
    """UsageError naming the address when Flink's REST API or Beam's job server does
    not answer (nothing is written before)."""
    from operations.local_flink import overview
    try:
        overview(cluster.flink_master)
    except (OSError, ValueError, urllib.error.URLError):
        raise UsageError(f'no Flink cluster answers at {cluster.flink_master}: '
                         f'{CLUSTER_HINT}') from None
    if not _answers(cluster.job_server):
        raise UsageError(f"no Beam job server answers at {cluster.job_server}: "
                         f'{CLUSTER_HINT} (the profile\'s job_server)')


def package_path(directory: str) -> str:
    return os.path.join(directory, f'{PACKAGE_NAME}-0.1.0-py3-none-any.whl')


def build_package(directory: str) -> str:
    """This project's package, built from setup.py as a wheel into `directory` (a
    path that stays the same from run to run: it is part of each component's Beam
    options, so of its cache key); the wheel's path. Built from a copy of the
    sources, so that setuptools' build/ and egg-info stay out of the checkout (and
    two runs building at once do not share them)."""
    os.makedirs(directory, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix='taxi-package-') as sources:
        shutil.copy2(os.path.join(REPO_ROOT, 'setup.py'), sources)
        for package in PACKAGE_DIRS:
            shutil.copytree(os.path.join(REPO_ROOT, package), os.path.join(sources, package),
                            ignore=shutil.ignore_patterns('__pycache__', 'flink_job_server'))
        result = subprocess.run(
            [sys.executable, '-m', 'pip', 'wheel', '--quiet', '--no-deps',
             '--no-build-isolation', '--wheel-dir', directory, sources],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    if result.returncode != 0:
        raise ProblemFound(f'building the package for the Flink workers failed: '
                           f'{result.stdout.strip().splitlines()[-1:]}')
    return package_path(directory)


def beam_args(cluster: Cluster, package: str) -> Tuple[str, ...]:
    """Beam options that send every Beam component to the cluster as a job."""
    args = [f'--runner={RUNNER}',
            f'--flink_master={cluster.flink_master}',
            f'--job_endpoint={cluster.job_server}',
            f'--environment_type={cluster.environment_type}',
            f'--environment_config={cluster.environment_config}',
            f'--environment_cache_millis={ENVIRONMENT_CACHE_MILLIS}',
            f'--job_server_timeout={JOB_SERVER_TIMEOUT_SECONDS}',
            f'--extra_package={package}']
    if cluster.parallelism:
        args.append(f'--parallelism={cluster.parallelism}')
    if cluster.runner_jars_on_cluster:
        args.append(NO_JARS_TO_STAGE)
    return tuple(args)


def flink_config(config: PipelineConfig, cluster: Cluster) -> PipelineConfig:
    """The run's config with its Beam components on the cluster as jobs named after
    them, taking this project's package from under the home (built by train())."""
    package = package_path(os.path.join(config.home, PACKAGES))
    return dataclasses.replace(config, beam_pipeline_args=beam_args(cluster, package),
                               name_beam_jobs=True)


def train(config: PipelineConfig, lock: execution.RunLock,
          progress: execution.Progress) -> training_run.TrainingRun:
    """training_run.train on the cluster, the package its workers install built first."""
    build_package(os.path.join(config.home, PACKAGES))
    return training_run.train(config, lock, progress)


def predict(config: PipelineConfig, input_dir: str, output_dir: str, lock: execution.RunLock,
            progress: execution.Progress) -> str:
    """batch_predictions.predict on the cluster, the workers' package built first."""
    from operations import batch_predictions
    build_package(os.path.join(config.home, PACKAGES))
    return batch_predictions.predict(config, input_dir, output_dir, lock, progress)
