"""Compare served traffic (the model server's request logs) with the training data
of the model in service: skew and drift with the schema's comparators, data
anomalies against the SERVING environment, and server health from Prometheus
metrics. Writes HOME/monitoring/report-<time>.json; exits 1 on any finding,
or with --retrain runs the pipeline instead."""

import argparse
import dataclasses
from typing import Optional

from common.exit_status import ExitStatus, ProblemFound
from operations import monitoring, training_run
from pipeline.config import PipelineConfig
from runner import arguments
from runner.command import Context
from runner.command import Plan as BasePlan

NAME = 'monitor'
HELP = 'skew, drift and health of served traffic; exit 1 on findings'
EXAMPLES = '''examples:
  python -m runner monitor --home tfx_home --requests tfx_home/request_logs
  python -m runner monitor --metrics-url http://localhost:8501/monitoring/prometheus/metrics
  python -m runner monitor --retrain --data-root /data/taxi   # retrain on findings
'''


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan(BasePlan):
    config: PipelineConfig
    settings: monitoring.MonitorSettings
    retrain: Optional[PipelineConfig]     # the run to start on findings, if any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    arguments.add_home(parser, 'the pipeline home to compare with')
    arguments.add_metadata(parser)
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


def check(args: argparse.Namespace) -> Plan:
    config = arguments.config_with_runs(args, writing=True, pushing=args.retrain)
    settings = monitoring.MonitorSettings(
        requests=args.requests or config.paths.request_logs_dir, model=args.model,
        windows=args.windows, min_examples=args.min_examples,
        min_window_examples=args.min_window_examples, metrics_url=args.metrics_url,
        max_error_rate=args.max_error_rate, max_p99_ms=args.max_p99_ms)
    retrain = training_run.local_config(
        config.home, arguments.data_root(args.data_root), args.spans, metadata=config.metadata,
        storage_root=config.storage_root) if args.retrain else None
    return Plan(config=config, settings=settings, retrain=retrain, log_home=config.home,
                lock_home=config.home if retrain else None, lock_store=config.metadata)


def run(plan: Plan, context: Context) -> ExitStatus:
    result, retrained = monitoring.monitor_and_retrain(plan.config, plan.settings, plan.retrain,
                                                       context.lock, context.progress)
    if retrained is not None:
        print(retrained.summary)
        return ExitStatus.DONE
    print('\n'.join(result.lines))
    if result.findings:
        raise ProblemFound(f'findings in served traffic: {", ".join(result.findings)} '
                           f'(see {result.path})')
    return ExitStatus.DONE
