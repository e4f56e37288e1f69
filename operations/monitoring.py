"""Serving monitor: the model server's request logs against the training data of
the model in service.

  skew    served examples against the training split (operations/drift.py)
  drift   the same between consecutive windows of served traffic
  data    the served examples against the schema in its SERVING environment
  health  error rate and p99 latency from the server's Prometheus metrics
          (operations/health.py)

The report goes to HOME/monitoring/report-<time>.json (and latest.json); any
finding makes the check fail, which the CLI turns into exit 1 (or, with
--retrain, a pipeline run).
"""

import dataclasses
import json
import os
import time
from typing import Any, Dict, List, Optional, Tuple

from common.exit_status import UsageError
from operations import run_history, training_run
from operations.execution import Progress, RunLock
from pipeline import mlmd
from pipeline.config import PipelineConfig

FINDINGS = ('skew', 'drift', 'data', 'health_problems')


@dataclasses.dataclass(frozen=True)
class MonitorSettings:
    """What to read and the limits to judge by."""

    requests: str                     # request log: directory, filename prefix or glob
    model: str                        # served model name, in the server's metrics
    windows: int = 2                  # traffic windows for drift
    min_examples: int = 50            # fewest served examples to judge
    min_window_examples: int = 1000   # smallest window the drift check runs on
    metrics_url: Optional[str] = None
    max_error_rate: float = 0.01
    max_p99_ms: float = 100.0


@dataclasses.dataclass(frozen=True)
class Monitoring:
    """A written monitoring report."""

    report: Dict[str, Any]
    path: str
    log_files: int
    windows: int

    @property
    def findings(self) -> List[str]:
        return [key for key in FINDINGS if self.report.get(key)]

    @property
    def lines(self) -> List[str]:
        """The report for people: traffic, each kind of finding, health, where it is."""
        report = self.report
        lines = [f'Served examples: {report["examples"]} from {self.log_files} request log '
                 f'files, {self.windows} windows']
        lines += [f'{key}: ' + (json.dumps(report[key]) if report[key] else 'none')
                  for key in ('skew', 'drift', 'drift_skipped', 'data', 'health_problems')
                  if key in report]
        if 'health' in report:
            health = report['health']
            lines.append(f"health: {health['requests']:.0f} requests, error rate "
                         f"{health['error_rate']:.2%}, p50 {health['p50_ms']} ms, "
                         f"p99 {health['p99_ms']} ms")
        return lines + [f'Report: {self.path}']


def served_model_run(config: PipelineConfig) -> mlmd.RunRecord:
    """The run that pushed the model in service (else the newest that pushed one)."""
    runs = mlmd.load_runs(mlmd.connect(config.store), config.pipeline_name)
    record = mlmd.pushed_run(runs, run_history.serving_now(config, runs)) \
        or mlmd.pushed_run(runs)
    if record is None:
        raise UsageError(f'no pushed model recorded in {config.store}: '
                         'run the pipeline first')
    return record


def training_inputs(record: mlmd.RunRecord) -> Tuple[Any, Any]:
    """(training split statistics, curated schema) of a run: traffic is compared with
    the data the model in service was trained on."""
    import tensorflow_data_validation as tfdv
    if record.statistics is None or record.schema is None:
        raise UsageError(f'run {record.run_id} recorded no statistics or schema to compare with')
    training = tfdv.load_stats_binary(
        os.path.join(run_history.stored(record.statistics), 'Split-train', 'FeatureStats.pb'))
    return training, tfdv.load_schema_text(
        os.path.join(run_history.stored(record.schema), 'schema.pbtxt'))


def write_report(report: Dict, directory: str) -> str:
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, time.strftime('report-%Y%m%d-%H%M%S.json'))
    text = json.dumps(report, indent=2, sort_keys=True)
    for target in (path, os.path.join(directory, 'latest.json')):
        with open(target, 'w') as f:
            f.write(text + '\n')
    return path


def monitor(config: PipelineConfig, settings: MonitorSettings) -> Monitoring:
    """Checks served traffic (and the server's health, given its metrics URL) and
    writes the report; UsageError when there is too little traffic to judge."""
    # Here, not with the CLI: numpy, TFDV's protos and prometheus_client take a while.
    from operations import drift, health, traffic
    paths = traffic.request_log_paths(settings.requests)
    examples = traffic.served_examples(paths)
    if len(examples) < settings.min_examples:
        raise UsageError(f'{len(examples)} served examples in {len(paths)} request log files; '
                         f'need at least {settings.min_examples}')
    training, schema = training_inputs(served_model_run(config))
    windows = traffic.split_windows(examples, settings.windows)
    report: Dict[str, Any] = {
        'examples': len(examples), 'request_log_files': len(paths),
        **drift.check_data(training, schema, windows, settings.min_window_examples)}
    if settings.metrics_url:
        report['health'] = health.serving_health(health.fetch(settings.metrics_url),
                                                 settings.model)
        report['health_problems'] = health.check_health(report['health'],
                                                        settings.max_error_rate,
                                                        settings.max_p99_ms)
    path = write_report(report, config.paths.monitoring_dir)
    return Monitoring(report, path, len(paths), len(windows))


Retrained = Tuple[Monitoring, Optional[training_run.TrainingRun]]


def monitor_and_retrain(config: PipelineConfig, settings: MonitorSettings,
                        retrain: Optional[PipelineConfig], lock: RunLock,
                        progress: Progress) -> Retrained:
    """monitor(); on findings, with a config to retrain on, the report's lines to
    progress and a training run on it: (the report, the run if there was one)."""
    result = monitor(config, settings)
    if not result.findings or retrain is None:
        return result, None
    for line in result.lines + ['Anomalies found: retraining']:
        progress.note(line)
    return result, training_run.train(retrain, lock, progress)
