"""Beam's FlinkRunner as `runner flink` runs each Beam component: through Beam's
job server to a Flink cluster, as one Flink job per component, with three
things Beam's runner leaves out:

- each job's name is its component's id and a token of its own
  (`Transform-3f2a9c1e`): the component says which job it was, and a stopped or
  failed run acts on its own job only, on a cluster a team shares;
- a stop (Ctrl-C) of the submitting process cancels the job on the cluster
  (Beam's Cancel ends the job server's invocation but leaves Flink's job
  running);
- a failed job is reported with Flink's own cause (from its REST API), not the
  job server's "Job failed (JobID: ...)".

Options Beam's Python SDK does not know (the Java runner's, such as
`--pipeline_resources_detector_factory_class`) pass through to the job server.
Chosen with `--runner=pipeline.flink_runner.FlinkClusterRunner`; `--job_name`
and `--flink_master` (the REST address) as for Beam's FlinkRunner.
"""

import json
import logging
import urllib.error
import urllib.request
import uuid
from typing import Any, Dict, List, Optional

from apache_beam.options.pipeline_options import (
    FlinkRunnerOptions,
    GoogleCloudOptions,
    PipelineOptions,
)
from apache_beam.runners.portability import flink_runner, portable_runner

ACTIVE_STATES = ('INITIALIZING', 'CREATED', 'RUNNING', 'FAILING', 'CANCELLING', 'RESTARTING',
                 'RECONCILING', 'SUSPENDED')
REST_SECONDS = 10.0
CAUSE_CHARS = 300


class FlinkJobFailed(RuntimeError):
    """A component's Flink job failed; the message holds Flink's cause."""


def rest_address(flink_master: str) -> str:
    """HOST:PORT of Flink's REST API, as --flink_master names it (with or without http://)."""
    return flink_master.split('://', 1)[-1].rstrip('/')


def _rest(flink_master: str, path: str, method: str = 'GET') -> Any:
    request = urllib.request.Request(f'http://{rest_address(flink_master)}{path}', method=method)
    with urllib.request.urlopen(request, timeout=REST_SECONDS) as response:
        body = response.read()
    return json.loads(body) if body else None


def jobs(flink_master: str) -> List[Dict[str, Any]]:
    """Flink's jobs (/jobs/overview): jid, name, state, start-time, duration..."""
    return _rest(flink_master, '/jobs/overview')['jobs']


def _job_named(flink_master: str, name: str) -> Optional[Dict[str, Any]]:
    named = [job for job in jobs(flink_master) if job['name'] == name]
    return max(named, key=lambda job: job['start-time']) if named else None


def cancel(flink_master: str, name: str) -> bool:
    """Cancels the named job if it is still active; whether it was."""
    job = _job_named(flink_master, name)
    if job is None or job['state'] not in ACTIVE_STATES:
        return False
    _rest(flink_master, f'/jobs/{job["jid"]}?mode=cancel', method='PATCH')
    return True


def failure_cause(flink_master: str, name: str) -> Optional[str]:
    """Flink's cause of the named job's failure, on one line: the innermost 'Caused by'
    of its root exception (for a Python error in a worker, its exception), else the
    root exception's first line."""
    job = _job_named(flink_master, name)
    if job is None:
        return None
    root = _rest(flink_master, f'/jobs/{job["jid"]}/exceptions').get('root-exception') or ''
    return innermost_cause(root)


def innermost_cause(trace: str) -> Optional[str]:
    lines = [line.strip() for line in trace.splitlines() if line.strip()]
    if not lines:
        return None
    caused = [i for i, line in enumerate(lines) if line.startswith('Caused by:')]
    if not caused:
        return lines[0]
    cause = lines[caused[-1]][len('Caused by:'):].strip()
    # A Python worker's error: Java's message holds the Python traceback, whose last
    # line (before Beam's "[while running ...]") names the Python exception.
    python = [line for line in lines[caused[-1]:] if not line.startswith(('at ', 'File ', '...'))]
    if cause.endswith('Traceback (most recent call last):') and len(python) > 1:
        return python[-1]
    return cause


class _ClusterJob:
    """Beam's result for a job on the cluster: a stop while waiting cancels the job
    there; a failure names Flink's cause."""

    def __init__(self, result: Any, flink_master: str, name: str):
        self._result, self._flink_master, self.name = result, flink_master, name

    def wait_until_finish(self, duration: Optional[int] = None) -> Any:
        try:
            return self._result.wait_until_finish(duration)
        except RuntimeError as failed:
            raise FlinkJobFailed(self._failure(failed)) from failed
        except BaseException:
            _cancel_quietly(self._flink_master, self.name)
            raise

    def _failure(self, failed: RuntimeError) -> str:
        try:
            cause = failure_cause(self._flink_master, self.name)
        except (OSError, ValueError, KeyError):
            logging.exception('could not read Flink job %s\'s failure', self.name)
            cause = None
        return f'Flink job {self.name} failed: {_shortened(cause or str(failed))}'


def _shortened(cause: str) -> str:
    """A cause for one error line: Flink's run to paragraphs (its OutOfMemoryError's does);
    the whole of it stays in the log with the job server's error."""
    return cause if len(cause) <= CAUSE_CHARS else cause[:CAUSE_CHARS].rstrip() + ' [...]'

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._result, attribute)


def _cancel_quietly(flink_master: str, name: str) -> None:
    """Cancels the job on the way out of a stop: logged if the cluster cannot be told."""
    try:
        if cancel(flink_master, name):
            logging.info('cancelled Flink job %s', name)
    except (OSError, ValueError, KeyError):
        logging.exception('could not cancel Flink job %s at %s', name, flink_master)


class FlinkClusterRunner(flink_runner.FlinkRunner):
    """Beam's FlinkRunner with unique job names, cancellation on a stop, Flink's
    failure causes and the Java runner's options passed through (module doc)."""

    def create_job_service_handle(self, job_service: Any, options: PipelineOptions) -> Any:
        return portable_runner.JobServiceHandle(job_service, options,
                                                retain_unknown_options=True)

    def run_portable_pipeline(self, pipeline: Any, options: PipelineOptions) -> Any:
        cloud = options.view_as(GoogleCloudOptions)
        name = f'{cloud.job_name or "job"}-{uuid.uuid4().hex[:8]}'
        cloud.job_name = name
        flink_master = options.view_as(FlinkRunnerOptions).flink_master
        try:
            result = super().run_portable_pipeline(pipeline, options)
        except BaseException:
            _cancel_quietly(flink_master, name)     # stopped while it was being submitted
            raise
        return _ClusterJob(result, flink_master, name)
