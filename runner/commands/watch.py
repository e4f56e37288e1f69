"""Run the pipeline whenever a new span-<N>/ directory of CSV files appears in
--data-root; each run trains on the latest --spans spans, warm-starting from
the last blessed model. Stops at the first failed run (exit 1)."""

import os
import time

from pipeline.config import PipelineConfig
from runner import local, spans
from runner.commands import arguments

NAME = 'watch'
HELP = 'run the pipeline when a new span-<N>/ arrives'
EXAMPLES = '''examples:
  python -m runner watch --data-root /data/spans                 # check every minute
  python -m runner watch --data-root /data/spans --once          # check once, run if new
'''
WRITES_HOME = True


def add_arguments(parser) -> None:
    arguments.add_data_root(parser, required=True)
    arguments.add_home(parser)
    arguments.add_spans(parser)
    arguments.add_training(parser)
    parser.add_argument('--interval', type=float, default=60,
                        help='seconds between checks (default 60)')
    parser.add_argument('--once', action='store_true', help='check once, run if new, exit')


def home_to_lock(args) -> str:
    return args.home


def check(args) -> None:
    arguments.home_for_writing(args.home)
    arguments.data_root(args.data_root)


def run(args) -> int:
    config = PipelineConfig(home=os.path.abspath(args.home),
                            data_root=os.path.abspath(args.data_root), spans=args.spans,
                            train_steps=args.train_steps, min_auc=args.min_auc)
    while True:
        span = spans.new_span(config.data_root, config.metadata_path, config.pipeline_name)
        if span is not None:
            print(f'New span {span} in {config.data_root}: running the pipeline', flush=True)
            local.run_visibly(config, args.log_path, args.working_on)
            if args.once:
                return 0
        elif args.once:
            print(f'No new span in {config.data_root}')
            return 0
        time.sleep(args.interval)
