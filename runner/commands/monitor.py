"""Compare served traffic (the model server's request logs) with the training data
of the model in service: skew and drift with the schema's comparators, data
anomalies against the SERVING environment, and server health from Prometheus
metrics. Writes HOME/monitoring/report-<time>.json; exits 1 on any finding,
or with --retrain runs the pipeline instead."""

import json
import os
from typing import Optional

from common.tf_serving import newest_version
from pipeline import mlmd
from pipeline.config import PipelineConfig
from runner import local
from runner.commands import arguments
from runner.errors import ProblemFound, UsageError

NAME = 'monitor'
HELP = 'skew, drift and health of served traffic; exit 1 on findings'
EXAMPLES = '''examples:
  python -m runner monitor --home tfx_home --requests tfx_home/request_logs
  python -m runner monitor --metrics-url http://localhost:8501/monitoring/prometheus/metrics
  python -m runner monitor --retrain --data-root /data/taxi   # retrain on findings
'''
WRITES_HOME = True


def add_arguments(parser) -> None:
    arguments.add_home(parser, 'the pipeline home to compare with')
    parser.add_argument('--requests', help='request log: directory, filename prefix or glob '
                                           '(default: HOME/request_logs)')
    parser.add_argument('--metrics-url', help="the server's Prometheus metrics, e.g. "
                                              'http://localhost:8501/monitoring/prometheus/metrics')
    parser.add_argument('--model', default=PipelineConfig.model_name, help='served model name')
    parser.add_argument('--windows', type=arguments.positive_int, default=2,
                        help='traffic windows for drift (default 2)')
    parser.add_argument('--min-examples', type=arguments.positive_int, default=50,
                        help='fewest served examples to judge (default 50)')
    parser.add_argument('--min-window-examples', type=arguments.positive_int, default=1000,
                        help='smallest window the drift check runs on (default 1000)')
    parser.add_argument('--max-error-rate', type=float, default=0.01)
    parser.add_argument('--max-p99-ms', type=float, default=100.0)
    parser.add_argument('--retrain', action='store_true',
                        help='on findings, run the pipeline on --data-root')
    arguments.add_data_root(parser)
    arguments.add_spans(parser)


def home_to_lock(args) -> Optional[str]:
    return args.home if args.retrain else None


def check(args) -> None:
    arguments.home_with_runs(args.home)
    if args.retrain:
        arguments.data_root(args.data_root)


def _served_model_run(config: PipelineConfig) -> mlmd.RunRecord:
    runs = mlmd.load_runs(mlmd.connect(config.metadata_path), config.pipeline_name)
    record = mlmd.pushed_run(runs, newest_version(config.serving_model_dir)) \
        or mlmd.pushed_run(runs)
    if record is None:
        raise UsageError(f'no pushed model recorded in {config.metadata_path}: '
                         'run the pipeline first')
    return record


def _print_report(report, paths, windows, path) -> None:
    print(f'Served examples: {report["examples"]} from {len(paths)} request log files, '
          f'{len(windows)} windows')
    for key in ('skew', 'drift', 'drift_skipped', 'data', 'health_problems'):
        if key in report:
            print(f'{key}: ' + (json.dumps(report[key]) if report[key] else 'none'))
    if 'health' in report:
        health = report['health']
        print(f"health: {health['requests']:.0f} requests, error rate {health['error_rate']:.2%}, "
              f"p50 {health['p50_ms']} ms, p99 {health['p99_ms']} ms")
    print(f'Report: {path}')


def run(args) -> int:
    from runner import monitor
    config = PipelineConfig(home=os.path.abspath(args.home))
    paths = monitor.request_log_paths(args.requests or config.paths.request_logs_dir)
    examples = monitor.served_examples(paths)
    if len(examples) < args.min_examples:
        raise UsageError(f'{len(examples)} served examples in {len(paths)} request log files; '
                         f'need at least {args.min_examples}')
    training, schema = monitor.training_inputs(_served_model_run(config))
    windows = monitor.split_windows(examples, args.windows)
    report = {'examples': len(examples), 'request_log_files': len(paths),
              **monitor.check_data(training, schema, windows, args.min_window_examples)}
    if args.metrics_url:
        report['health'] = monitor.serving_health(monitor.fetch(args.metrics_url), args.model)
        report['health_problems'] = monitor.check_health(report['health'], args.max_error_rate,
                                                         args.max_p99_ms)
    path = monitor.write_report(report, config.paths.monitoring_dir)
    _print_report(report, paths, windows, path)
    findings = [key for key in ('skew', 'drift', 'data', 'health_problems') if report.get(key)]
    if not findings:
        return 0
    if not args.retrain:
        raise ProblemFound(f'findings in served traffic: {", ".join(findings)} (see {path})')
    print('Anomalies found: retraining', flush=True)
    local.run_visibly(local.local_config(args.home, args.data_root, args.spans), args.log_path,
                      args.working_on)
    return 0
