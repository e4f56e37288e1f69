"""Where a model came from: from a pushed version (or a run) to the run that
trained it, its data files and their fingerprint, the code commit, the lock's
hash and package versions, the config, the schema, the evaluation, the canary,
and whether it serves now. A rolled-back version leads to the run that trained
the model it put back."""

import argparse
import dataclasses
from typing import Optional

from common.exit_status import ExitStatus
from operations import model_lineage
from pipeline.config import PipelineConfig
from runner import arguments
from runner.command import Context
from runner.command import Plan as BasePlan

NAME = 'lineage'
HELP = 'from a pushed version or a run to its data, code, config and evaluation'
EXAMPLES = '''examples:
  python -m runner lineage --version 1796156947
  python -m runner lineage --run 2026-12-01T20:28
'''


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan(BasePlan):
    config: PipelineConfig
    version: Optional[int]
    run_id: Optional[str]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument('--version', type=int, help='a version under serving_model/')
    which.add_argument('--run', help='a run id (or the start of one, as `runner runs` lists)')
    arguments.add_home(parser)
    arguments.add_metadata(parser)


def check(args: argparse.Namespace) -> Plan:
    return Plan(config=arguments.config_with_runs(args), version=args.version, run_id=args.run)


def run(plan: Plan, context: Context) -> ExitStatus:
    print('\n'.join(model_lineage.lineage(plan.config, plan.version, plan.run_id)))
    return ExitStatus.DONE
