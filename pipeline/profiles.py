"""Deployment profiles (pipeline/profiles.yaml plus TAXI_* environment overrides),
validated with errors that name the setting and say where to set it."""

import dataclasses
import os
import re
from typing import Mapping, Optional

import yaml

from pipeline.config import REPO_ROOT
from pipeline.store_url import StoreURLError
from pipeline.store_url import parse as parse_store

PROFILES_FILE = os.path.join(REPO_ROOT, 'pipeline', 'profiles.yaml')
ENV_PREFIX = 'TAXI_'
RUNNERS = ('local', 'dataflow', 'vertex', 'flink', 'airflow')
# Where Beam's SDK workers run on Flink: a worker pool beside each TaskManager
# (EXTERNAL), or processes each TaskManager starts (PROCESS). Not LOOPBACK: that runs
# them inside the submitting process, which production never does.
FLINK_ENVIRONMENTS = ('EXTERNAL', 'PROCESS')
ACCELERATORS = ('NVIDIA_TESLA_T4', 'NVIDIA_L4', 'NVIDIA_TESLA_V100', 'NVIDIA_TESLA_P100',
                'NVIDIA_TESLA_P4', 'NVIDIA_TESLA_A100', 'NVIDIA_A100_80GB', 'NVIDIA_H100_80GB')


class ProfileError(ValueError):
    """A missing or wrong setting."""


@dataclasses.dataclass(frozen=True)
class Profile:
    name: str
    runner: str
    project: str = ''
    region: str = ''
    bucket: str = ''
    data_root: str = ''
    image: str = ''
    service_account: str = ''
    dataflow_machine_type: str = 'n1-standard-4'
    dataflow_max_workers: int = 8
    dataflow_disk_gb: int = 50
    trainer_machine_type: str = 'n1-standard-8'
    accelerator_type: str = ''
    accelerator_count: int = 0
    tune_parallel_trials: int = 1
    vertex_endpoint: str = ''
    flink_master: str = ''                # Flink's REST API, HOST:PORT
    job_server: str = ''                  # Beam's job service, HOST:PORT
    environment_type: str = 'EXTERNAL'
    environment_config: str = ''          # EXTERNAL: the worker pool as TaskManagers reach it
    parallelism: int = 0                  # 0: the cluster's default
    runner_jars_on_cluster: bool = False  # Beam's runner jars on the cluster's classpath
    # ML Metadata shared by a team (pipeline/store_url.py) and the directory its runs'
    # artifacts and pushed models go to; empty: SQLite and artifacts in the home.
    metadata_url: str = ''
    pipeline_root: str = ''
    # Apache Airflow's DAGs (pipeline/airflow_dags.py): when training and monitoring run
    # (a cron expression or preset such as @daily; `none`: only when triggered), how
    # often a new span is looked for, how failed tasks are tried again (the delay
    # doubling up to its maximum), how long a task may wait for the run lock and how
    # long it may take in all (then it fails, and is tried again).
    schedule: str = '@daily'
    monitoring_schedule: str = '@hourly'
    span_check_seconds: int = 60
    retries: int = 2
    retry_delay_seconds: int = 30
    max_retry_delay_seconds: int = 600
    lock_wait_seconds: int = 1800
    task_timeout_seconds: int = 7200

    @property
    def data(self) -> str:
        return self.data_root or f'{self.bucket}/data/chicago_taxi'


_FIELDS = {f.name: f.type for f in dataclasses.fields(Profile) if f.name != 'name'}
# A cluster's address (Flink's REST endpoint, Beam's job server).
HOST_PORT = r'[A-Za-z0-9.-]+:[0-9]{1,5}'
_RULES = {
    'project': (r'[a-z][a-z0-9-]{4,28}[a-z0-9]', 'a GCP project id, e.g. my-project-123'),
    'region': (r'[a-z]+-[a-z]+[0-9]', 'a GCP region, e.g. us-central1'),
    'bucket': (r'gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?', 'a gs:// URI'),
    'data_root': (r'gs://.+', 'a gs:// URI'),
    'flink_master': (HOST_PORT, 'HOST:PORT'),
    'job_server': (HOST_PORT, 'HOST:PORT'),
}
_REQUIRED = {'local': (), 'airflow': (), 'dataflow': ('project', 'region', 'bucket'),
             'vertex': ('project', 'region', 'bucket', 'image'),
             'flink': ('flink_master', 'job_server', 'environment_config')}
_BOOLEANS = {'true': True, 'yes': True, '1': True, 'false': False, 'no': False, '0': False}


def _error(profile: str, setting: str, problem: str) -> ProfileError:
    return ProfileError(f"profile '{profile}', setting '{setting}': {problem} (set it in "
                        f'{os.path.relpath(PROFILES_FILE, REPO_ROOT)} or as '
                        f'{ENV_PREFIX}{setting.upper()})')


def load_profile(name: str, path: str = PROFILES_FILE,
                 environ: Optional[Mapping[str, str]] = None) -> Profile:
    environ = os.environ if environ is None else environ
    with open(path) as f:
        profiles = yaml.safe_load(f) or {}
    if name not in profiles:
        raise ProfileError(f"no profile '{name}' in {path}; there are: {', '.join(profiles)}")
    values = dict(profiles[name] or {})
    unknown = set(values) - set(_FIELDS)
    if unknown:
        raise _error(name, sorted(unknown)[0], 'unknown setting')
    for setting in _FIELDS:
        if ENV_PREFIX + setting.upper() in environ:
            values[setting] = environ[ENV_PREFIX + setting.upper()]
    for setting, kind in _FIELDS.items():
        if kind in (int, 'int') and setting in values and values[setting] not in ('', None):
            try:
                values[setting] = int(values[setting])
            except (TypeError, ValueError):
                raise _error(name, setting, f'{values[setting]!r} is not a number') from None
        elif kind in (bool, 'bool') and setting in values and values[setting] not in ('', None):
            values[setting] = _boolean(name, setting, values[setting])
        elif setting in values:
            values[setting] = '' if values[setting] is None else str(values[setting])
    profile = Profile(name=name, **{k: v for k, v in values.items() if v != ''})
    _validate(profile)
    return profile


def schedule(value: str) -> Optional[str]:
    """A profile's schedule as Airflow takes it: None for `none` (only when triggered)."""
    return None if value.strip().lower() in ('none', 'null', '') else value.strip()


def _boolean(profile: str, setting: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() not in _BOOLEANS:
        raise _error(profile, setting, f'{value!r} is not true or false')
    return _BOOLEANS[str(value).lower()]


def _validate(profile: Profile) -> None:
    if profile.runner not in RUNNERS:
        raise _error(profile.name, 'runner', f'{profile.runner!r} is not one of {RUNNERS}')
    for setting in _REQUIRED[profile.runner]:
        if not getattr(profile, setting):
            raise _error(profile.name, setting, 'missing')
    for setting, (pattern, meaning) in _RULES.items():
        value = getattr(profile, setting)
        if value and not re.fullmatch(pattern, value):
            raise _error(profile.name, setting, f'{value!r} is not {meaning}')
    if profile.accelerator_type:
        if profile.accelerator_type not in ACCELERATORS:
            raise _error(profile.name, 'accelerator_type',
                         f'{profile.accelerator_type!r} is not one of {", ".join(ACCELERATORS)}')
        if profile.accelerator_count not in (1, 2, 4, 8):
            raise _error(profile.name, 'accelerator_count', 'must be 1, 2, 4 or 8')
    if profile.runner == 'flink' and profile.environment_type not in FLINK_ENVIRONMENTS:
        raise _error(profile.name, 'environment_type',
                     f'{profile.environment_type!r} is not one of {", ".join(FLINK_ENVIRONMENTS)}')
    if profile.parallelism < 0:
        raise _error(profile.name, 'parallelism', 'must be 0 (the cluster\'s default) or more')
    if profile.metadata_url:
        try:
            parse_store(profile.metadata_url)
        except StoreURLError as error:
            raise _error(profile.name, 'metadata_url', str(error)) from None
    for setting in ('span_check_seconds', 'retry_delay_seconds', 'max_retry_delay_seconds',
                    'lock_wait_seconds', 'task_timeout_seconds'):
        if getattr(profile, setting) < 1:
            raise _error(profile.name, setting, 'must be at least 1')
    if profile.lock_wait_seconds >= profile.task_timeout_seconds:
        raise _error(profile.name, 'lock_wait_seconds',
                     'must be less than task_timeout_seconds (a task waits within its time)')
    if profile.retries < 0:
        raise _error(profile.name, 'retries', 'must be 0 or more')
    if profile.dataflow_max_workers < 1:
        raise _error(profile.name, 'dataflow_max_workers', 'must be at least 1')
    if profile.tune_parallel_trials < 1:
        raise _error(profile.name, 'tune_parallel_trials', 'must be at least 1')
