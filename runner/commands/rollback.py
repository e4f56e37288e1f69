"""Put an earlier blessed model back in service: its files are pushed again as a
new, higher version number, so TF Serving and our server switch to it with no
config change and no restart; recorded in ML Metadata as a push with the
version it rolls back to. By default the version pushed before the one serving
now. Refuses (nothing written) a version never pushed by a blessed run, one
whose files no longer match their recorded fingerprint, or no earlier version."""

import argparse
import dataclasses

from common.exit_status import ExitStatus
from operations import version_rollback
from pipeline.config import PipelineConfig
from runner import arguments
from runner.command import Context
from runner.command import Plan as BasePlan

NAME = 'rollback'
HELP = 'serve an earlier blessed version again, as a new version'
EXAMPLES = '''examples:
  python -m runner rollback                      # the version before the one serving now
  python -m runner rollback --to 1796156947 --home /data/taxi_home
'''


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan(BasePlan):
    config: PipelineConfig
    rollback: version_rollback.Rollback


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--to', type=int, metavar='VERSION',
                        help='the version to put back (default: the one pushed before the '
                             'version serving now)')
    arguments.add_home(parser)
    arguments.add_metadata(parser)


def check(args: argparse.Namespace) -> Plan:
    config = arguments.config_with_runs(args, writing=True, pushing=True)
    return Plan(config=config, rollback=version_rollback.plan(config, args.to),
                log_home=config.home, lock_home=config.home, lock_store=config.metadata)


def run(plan: Plan, context: Context) -> ExitStatus:
    record = version_rollback.roll_back(plan.config, plan.rollback, context.lock,
                                        context.progress)
    print(f'Rolled back: version {record.pushed_version} serves the model of version '
          f'{record.rolled_back_to} ({record.pushed_destination})')
    return ExitStatus.DONE
