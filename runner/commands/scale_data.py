"""Grow the embedded taxi data N-fold for scale tests: rows resampled with
replacement, fares, miles and seconds jittered, coordinates moved a few hundred
metres; the result passes the curated schema's checks."""

import os

from pipeline.config import DEFAULT_DATA_ROOT
from runner.commands import arguments
from runner.errors import UsageError

NAME = 'scale-data'
HELP = 'grow the taxi data N-fold for scale tests'
EXAMPLES = '''examples:
  python -m runner scale-data --factor 100 --output /data/taxi_100x
  python -m runner local --data-root /data/taxi_100x --direct-running-mode multi_processing
'''
WRITES_HOME = False


def add_arguments(parser) -> None:
    parser.add_argument('--factor', type=arguments.positive_int, required=True,
                        help='e.g. 10 or 100')
    parser.add_argument('--output', required=True, help='directory for the CSV files')
    parser.add_argument('--seed', type=int, default=0)


def check(args) -> None:
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise UsageError(f'--output {args.output} is a file, not a directory')


def run(args) -> int:
    from runner.scale_data import write_scaled
    paths = write_scaled(os.path.join(DEFAULT_DATA_ROOT, 'data.csv'), args.factor, args.output,
                         args.seed)
    print(f'{len(paths)} files in {args.output}')
    return 0
