"""Compare two runs side by side: their code (commits, and `git diff --stat`
between them when both are in this checkout), lock and packages, config and
hyperparameters, data (fingerprints, and TFDV drift between the two training
sets' statistics when they differ), metrics overall and per slice with deltas,
and whether the two models are identical."""

import argparse
import dataclasses

from common.exit_status import ExitStatus
from operations import comparison
from pipeline.config import PipelineConfig
from runner import arguments
from runner.command import Context
from runner.command import Plan as BasePlan

NAME = 'compare'
HELP = 'two runs side by side: code, config, data, metrics, model'
EXAMPLES = '''examples:
  python -m runner compare 2026-12-01T20:28 2026-12-01T20:41
  python -m runner compare --home /data/taxi_home RUN_A RUN_B
'''


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan(BasePlan):
    config: PipelineConfig
    run_a: str
    run_b: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('run_a', metavar='RUN_A', help='a run id or the start of one')
    parser.add_argument('run_b', metavar='RUN_B', help='another run')
    arguments.add_home(parser)
    arguments.add_metadata(parser)


def check(args: argparse.Namespace) -> Plan:
    return Plan(config=arguments.config_with_runs(args), run_a=args.run_a, run_b=args.run_b)


def run(plan: Plan, context: Context) -> ExitStatus:
    print('\n'.join(comparison.compare(plan.config, plan.run_a, plan.run_b)))
    return ExitStatus.DONE
