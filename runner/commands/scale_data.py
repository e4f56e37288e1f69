"""Grow the embedded taxi data N-fold for scale tests: rows resampled with
replacement, fares, miles and seconds jittered, coordinates moved a few hundred
metres; the result passes the curated schema's checks."""

import argparse
import dataclasses
import os

from common.exit_status import ExitStatus, UsageError
from pipeline.config import DEFAULT_DATA_ROOT
from runner import arguments
from runner.command import Context
from runner.command import Plan as BasePlan

NAME = 'scale-data'
HELP = 'grow the taxi data N-fold for scale tests'
EXAMPLES = '''examples:
  python -m runner scale-data --factor 100 --output /data/taxi_100x
  python -m runner local --data-root /data/taxi_100x --direct-running-mode multi_processing
'''


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan(BasePlan):
    factor: int
    output: str
    seed: int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--factor', type=arguments.positive_int, required=True,
                        help='e.g. 10 or 100')
    parser.add_argument('--output', required=True, help='directory for the CSV files')
    parser.add_argument('--seed', type=int, default=0)


def check(args: argparse.Namespace) -> Plan:
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise UsageError(f'--output {args.output} is a file, not a directory')
    return Plan(factor=args.factor, output=args.output, seed=args.seed)


def run(plan: Plan, context: Context) -> ExitStatus:
    from operations import data_scaling  # pandas: not with the CLI
    paths = data_scaling.write_scaled(os.path.join(DEFAULT_DATA_ROOT, 'data.csv'), plan.factor,
                                      plan.output, plan.seed)
    print(f'{len(paths)} files in {plan.output}')
    return ExitStatus.DONE
