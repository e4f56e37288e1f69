"""Put an earlier blessed model back in service: its files are pushed again as a
new, higher version number, so TF Serving and our server switch to it with no
config change and no restart; recorded in ML Metadata as a push with the
version it rolls back to. By default the version pushed before the one serving
now. Refuses (nothing written) a version never pushed by a blessed run, one
whose files no longer match their recorded fingerprint, or no earlier version."""

import os

from pipeline import mlmd
from pipeline.config import PipelineConfig
from runner import rollback
from runner.commands import arguments

NAME = 'rollback'
HELP = 'serve an earlier blessed version again, as a new version'
EXAMPLES = '''examples:
  python -m runner rollback                      # the version before the one serving now
  python -m runner rollback --to 1796156947 --home /data/taxi_home
'''
WRITES_HOME = True


def add_arguments(parser) -> None:
    parser.add_argument('--to', type=int, metavar='VERSION',
                        help='the version to put back (default: the one pushed before the '
                             'version serving now)')
    arguments.add_home(parser)


def home_to_lock(args) -> str:
    return args.home


def check(args) -> None:
    arguments.home_with_runs(args.home)
    args.config = PipelineConfig(home=os.path.abspath(args.home))
    args.version, args.origin = rollback.plan(args.config, args.to)


def run(args) -> int:
    record = rollback.roll_back(args.config, args.version, args.origin, args.working_on)
    print(f'Rolled back: version {record.pushed_version} serves the model of version '
          f'{record.pushed_model.get(mlmd.ROLLED_BACK_TO)} '
          f'({record.pushed_model.get(mlmd.PUSHED_DESTINATION)})')
    return 0
