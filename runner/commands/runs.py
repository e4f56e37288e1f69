"""List the pipeline runs of a home (or of a store a team shares), newest first:
when, how long, how it ended (complete, cached, failed at COMPONENT, running,
abandoned at COMPONENT when its process was killed, a rollback), who started it
and where (user@host), its data (span and content fingerprint), its code
(commit, `*` for uncommitted changes), hyperparameters that differ from the
defaults, eval AUC, blessing, and the version it pushed, marked where it serves
now. Reads ML Metadata only; fast."""

import argparse
import dataclasses
import getpass
import json
from typing import Optional

from common.exit_status import ExitStatus
from operations import run_history
from pipeline.config import PipelineConfig
from runner import arguments, store_lock
from runner.command import Context
from runner.command import Plan as BasePlan

NAME = 'runs'
HELP = 'the runs of a home with their data, code, metrics and pushes'
EXAMPLES = '''examples:
  python -m runner runs
  python -m runner runs --home /data/taxi_home --limit 10
  python -m runner runs --json | jq '.[0].auc'
  python -m runner runs --metadata postgresql://ml@db:5432/mlmd --mine
'''


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan(BasePlan):
    config: PipelineConfig
    limit: Optional[int]
    json: bool
    user: Optional[str]       # only this user's runs (--mine)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    arguments.add_home(parser)
    arguments.add_metadata(parser)
    parser.add_argument('--limit', type=arguments.positive_int, help='the newest N runs only')
    parser.add_argument('--mine', action='store_true',
                        help='only the runs I started (those of my login name)')
    parser.add_argument('--json', action='store_true',
                        help='a JSON list, newest first, one object per run')


def check(args: argparse.Namespace) -> Plan:
    return Plan(config=arguments.config_with_runs(args), limit=args.limit, json=args.json,
                user=getpass.getuser() if args.mine else None)


def run(plan: Plan, context: Context) -> ExitStatus:
    config = plan.config
    listing = run_history.listing(config, plan.limit,
                                  store_lock.activity(config.home, config.metadata), plan.user)
    if plan.json:
        print(json.dumps(listing.summaries, indent=2))
    elif listing.rows:
        print(listing.table)
    else:
        print(f'No runs in {config.store}' + (f' by {plan.user}' if plan.user else ''))
    return ExitStatus.DONE
