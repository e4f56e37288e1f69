"""ML Metadata on a PostgreSQL server a team shares. `start` starts one on this
machine (PostgreSQL 15 on 127.0.0.1, data outside the repository; `make
store`) and prints the URL for --metadata; `stop` stops it (`make
store-stop`); both are safe to repeat. `copy` copies a home's SQLite ML
Metadata into an empty store, runs, lineage, blessings and all, and checks
that both read the same; `check` says whether a store answers, what it holds
and who runs on it now."""

import argparse
import dataclasses
from typing import Optional

from common.argument_parser import ArgumentParser
from common.exit_status import ExitStatus
from operations import run_history, store_copy, store_server
from pipeline import mlmd
from pipeline.config import PipelineConfig
from runner import arguments, store_lock
from runner.command import Context
from runner.command import Plan as BasePlan

NAME = 'store'
HELP = 'a PostgreSQL store for the team: start, stop, copy a home into it, check it'
EXAMPLES = '''examples:
  python -m runner store start                     # make store: prints the URL
  export TAXI_METADATA_URL=postgresql://postgres@127.0.0.1:54329/mlmd
  python -m runner store copy --from tfx_home --to $TAXI_METADATA_URL
  python -m runner store check
  python -m runner store stop                      # make store-stop
'''


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan(BasePlan):
    action: str
    server: Optional[store_server.LocalServer] = None     # start, stop
    source: Optional[str] = None                          # copy: the home copied
    config: Optional[PipelineConfig] = None               # copy: into its store; check


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest='action', required=True, metavar='ACTION',
                                    parser_class=ArgumentParser)
    for action in ('start', 'stop'):
        server = actions.add_parser(action, help=f'{action} the store on this machine')
        server.add_argument('--port', type=int, help=f'(default: {store_server.PORT_ENV}, '
                                                     f'else {store_server.DEFAULT_PORT})')
        server.add_argument('--dir', help=f'its data and log (default: {store_server.DIR_ENV}, '
                                          'else ~/.cache/taxi-pipeline/store)')
    copy = actions.add_parser('copy', help="a home's SQLite ML Metadata into an empty store")
    copy.add_argument('--from', dest='source', required=True, metavar='HOME',
                      help='the pipeline home whose metadata.db is copied')
    copy.add_argument('--to', dest='target', required=True, metavar='URL',
                      help='an empty PostgreSQL store, postgresql://USER@HOST:PORT/DATABASE')
    check = actions.add_parser('check', help='whether a store answers, what it holds, who runs')
    arguments.add_home(check)
    arguments.add_metadata(check, pipeline_root=False)


def check(args: argparse.Namespace) -> Plan:
    if args.action in ('start', 'stop'):
        return Plan(action=args.action,
                    server=store_server.default_server(directory=args.dir, port=args.port))
    if args.action == 'copy':
        home = arguments.home_with_runs(args.source, writing=True)
        target = arguments.shared_store(args.target, '--to')
        mlmd.refuse_non_empty(target)
        return Plan(action='copy', source=home.root, config=PipelineConfig(metadata=target),
                    log_home=home.root, lock_home=home.root, lock_store=target)
    return Plan(action='check', config=arguments.config_with_runs(args))


def run(plan: Plan, context: Context) -> ExitStatus:
    if plan.server is not None and plan.action == 'start':
        started = store_server.start(plan.server)
        print(f'{"Started" if started else "Already running:"} PostgreSQL on 127.0.0.1:'
              f'{plan.server.port}, data and log in {plan.server.directory}')
        print(f'ML Metadata store: {plan.server.store()}')
        print(f'  export TAXI_METADATA_URL={plan.server.store()}')
    elif plan.server is not None:
        stopped = store_server.stop(plan.server)
        print(f'{"Stopped" if stopped else "Not running:"} the store in {plan.server.directory}')
    elif plan.action == 'copy':
        assert plan.source is not None and plan.config is not None and \
            plan.config.metadata is not None      # check() made them
        copied = store_copy.copy_home(plan.source, plan.config.metadata)
        print(f'Copied {plan.source} into {plan.config.metadata}: {copied.summary}')
    else:
        assert plan.config is not None
        runs = run_history.load(plan.config)
        holder = store_lock.holder(plan.config.metadata) if plan.config.metadata else None
        print(f'ML Metadata at {plan.config.store}: runs {len(runs)}, the newest '
              f'{runs[0].run_id if runs else "-"}; '
              + (f'a run is under way ({store_lock.describe(holder)})' if holder
                 else 'no run under way' if plan.config.metadata else 'SQLite in the home'))
    return ExitStatus.DONE
