"""Run a recorded run again, in a fresh home, from its recorded data (checked
file by file against the recorded sha256) and config, and check that the new
model is the same, byte for byte (its fingerprint). Exits 0 when it is, 1 (with
what differs: code, lock, packages, data, model) when it is not. Refuses (exit
2, nothing written) when the code or lock differ from the recorded ones,
unless --allow-code-change, or when the data changed or is gone."""

import argparse
import dataclasses
import os
import time

from common.exit_status import ExitStatus, ProblemFound, UsageError
from operations import reproduction
from runner import arguments
from runner.command import Context
from runner.command import Plan as BasePlan

NAME = 'reproduce'
HELP = 'run a recorded run again and check the model is the same'
EXAMPLES = '''examples:
  python -m runner reproduce 2026-12-01T20:28
  python -m runner reproduce 2026-12-01T20:28 --home /data/taxi_home --into /tmp/again
'''


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan(BasePlan):
    reproduction: reproduction.Reproduction


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('run_id', metavar='RUN_ID', help='a run id or the start of one')
    arguments.add_home(parser, 'the home that holds the run')
    arguments.add_metadata(parser)
    parser.add_argument('--into', help='a fresh home for the new run (default: '
                                       'HOME/reproductions/<time>)')
    parser.add_argument('--allow-code-change', action='store_true',
                        help='run even when the commit or lock differ from the recorded ones')


def check(args: argparse.Namespace) -> Plan:
    config = arguments.config_with_runs(args, writing=True)
    into = os.path.abspath(args.into or os.path.join(config.paths.reproductions_dir,
                                                      time.strftime('%Y%m%d-%H%M%S')))
    if os.path.exists(os.path.join(into, 'metadata.db')):
        raise UsageError(f'--into {into} holds runs already: give a fresh directory')
    arguments.home_for_writing(into)
    planned = reproduction.plan(config, args.run_id, into, args.allow_code_change)
    return Plan(reproduction=planned, log_home=config.home, lock_home=into)


def run(plan: Plan, context: Context) -> ExitStatus:
    recorded = plan.reproduction.record
    print(f'Reproducing run {recorded.run_id} in {plan.reproduction.config.home}', flush=True)
    done = reproduction.reproduce(plan.reproduction, context.lock, context.progress)
    print(done.run.summary)
    if done.same_model:
        print(f'Reproduced: run {done.run.record.run_id} trained the same model '
              f'(fingerprint {recorded.model_fingerprint}).')
        return ExitStatus.DONE
    for line in done.differences:
        print(f'  {line}')
    raise ProblemFound(f'run {done.run.record.run_id} trained a different model than run '
                       f'{recorded.run_id}')
