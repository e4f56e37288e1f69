"""List the pipeline runs of a home, newest first: when, how long, how it ended
(complete, cached, failed at COMPONENT, running, abandoned at COMPONENT when its
process was killed, a rollback), its data (span and content
fingerprint), its code (commit, `*` for uncommitted changes), hyperparameters
that differ from the defaults, eval AUC, blessing, and the version it pushed,
marked where it serves now. Reads ML Metadata only; fast."""

import argparse
import dataclasses
import json
from typing import Optional

from common.exit_status import ExitStatus
from operations import run_history
from pipeline.config import PipelineConfig
from runner import arguments, home_lock
from runner.command import Context
from runner.command import Plan as BasePlan

NAME = 'runs'
HELP = 'the runs of a home with their data, code, metrics and pushes'
EXAMPLES = '''examples:
  python -m runner runs
  python -m runner runs --home /data/taxi_home --limit 10
  python -m runner runs --json | jq '.[0].auc'
'''


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan(BasePlan):
    config: PipelineConfig
    limit: Optional[int]
    json: bool


def add_arguments(parser: argparse.ArgumentParser) -> None:
    arguments.add_home(parser)
    parser.add_argument('--limit', type=arguments.positive_int, help='the newest N runs only')
    parser.add_argument('--json', action='store_true',
                        help='a JSON list, newest first, one object per run')


def check(args: argparse.Namespace) -> Plan:
    home = arguments.home_with_runs(args.home)
    return Plan(config=PipelineConfig(home=home.root), limit=args.limit, json=args.json)


def run(plan: Plan, context: Context) -> ExitStatus:
    config = plan.config
    listing = run_history.listing(config, plan.limit, home_lock.activity(config.home))
    if plan.json:
        print(json.dumps(listing.summaries, indent=2))
    elif listing.rows:
        print(listing.table)
    else:
        print(f'No runs in {config.metadata_path}')
    return ExitStatus.DONE
