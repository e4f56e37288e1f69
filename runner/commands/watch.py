"""Run the pipeline whenever a new span-<N>/ directory of CSV files appears in
--data-root; each run trains on the latest --spans spans, warm-starting from
the last blessed model. Stops at the first failed run (exit 1)."""

import argparse
import dataclasses
import time

from common.exit_status import ExitStatus
from operations import spans, training_run
from pipeline.config import PipelineConfig
from runner import arguments
from runner.command import Context
from runner.command import Plan as BasePlan

NAME = 'watch'
HELP = 'run the pipeline when a new span-<N>/ arrives'
EXAMPLES = '''examples:
  python -m runner watch --data-root /data/spans                 # check every minute
  python -m runner watch --data-root /data/spans --once          # check once, run if new
'''


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan(BasePlan):
    config: PipelineConfig
    interval: float
    once: bool


def add_arguments(parser: argparse.ArgumentParser) -> None:
    arguments.add_data_root(parser, required=True)
    arguments.add_home(parser)
    arguments.add_spans(parser)
    arguments.add_training(parser)
    parser.add_argument('--interval', type=float, default=60,
                        help='seconds between checks (default 60)')
    parser.add_argument('--once', action='store_true', help='check once, run if new, exit')


def check(args: argparse.Namespace) -> Plan:
    home = arguments.home_for_writing(args.home)
    config = PipelineConfig(home=home.root, data_root=arguments.data_root(args.data_root),
                            spans=args.spans, train_steps=args.train_steps, min_auc=args.min_auc)
    return Plan(config=config, interval=args.interval, once=args.once, log_home=home.root,
                lock_home=home.root)


def run(plan: Plan, context: Context) -> ExitStatus:
    config = plan.config
    while True:
        span = spans.new_span(config.data_root, config.metadata_path, config.pipeline_name)
        if span is not None:
            print(f'New span {span} in {config.data_root}: running the pipeline', flush=True)
            print(training_run.train(config, context.lock, context.progress).summary)
            if plan.once:
                return ExitStatus.DONE
        elif plan.once:
            print(f'No new span in {config.data_root}')
            return ExitStatus.DONE
        time.sleep(plan.interval)
