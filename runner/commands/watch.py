"""Run the pipeline whenever a new span-<N>/ directory of CSV files appears in
--data-root; each run trains on the latest --spans spans, warm-starting from
the last blessed model. Stops at the first failed run (exit 1)."""

import argparse
import dataclasses

from common.exit_status import ExitStatus
from operations import training_run
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
    arguments.add_metadata(parser)
    arguments.add_spans(parser)
    arguments.add_training(parser)
    parser.add_argument('--interval', type=float, default=60,
                        help='seconds between checks (default 60)')
    parser.add_argument('--once', action='store_true', help='check once, run if new, exit')


def check(args: argparse.Namespace) -> Plan:
    settings = arguments.store_settings(args, writing=True)
    home = arguments.home_for_writing(args.home, settings['metadata'])
    config = PipelineConfig(home=home.root, data_root=arguments.data_root(args.data_root),
                            spans=args.spans, train_steps=args.train_steps, min_auc=args.min_auc,
                            **settings)
    return Plan(config=config, interval=args.interval, once=args.once, log_home=home.root,
                lock_home=home.root, lock_store=config.metadata)


def run(plan: Plan, context: Context) -> ExitStatus:
    made = training_run.watch(plan.config, context.lock, context.progress, plan.interval,
                              plan.once)
    if not made:
        print(f'No new span in {plan.config.data_root}')
    return ExitStatus.DONE
