"""What every command of `python -m runner` is: a module of runner/commands with

    NAME, HELP, EXAMPLES       its name, one line for the command list, and
                               examples for its --help
    add_arguments(parser)      its own arguments
    check(args) -> Plan        validates and works out what to do, writing
                               nothing (bad usage: UsageError, exit 2)
    run(plan, context)         does it through one function of operations/ and
                               prints the result; returns the exit status

The CLI (runner/cli.py) calls them in that order, holds the home's lock (and a
shared store's) for the plans that name one, and sends library output to the
log file.
"""

import argparse
import dataclasses
from typing import Optional, Protocol, TypeVar

from common.exit_status import ExitStatus
from operations.execution import Progress, RunLock
from pipeline.store_url import Store


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan:
    """What check() worked out, for run(). Each command's plan adds its own fields."""

    log_home: Optional[str] = None    # logs go to LOG_HOME/logs; None: a temporary directory
    lock_home: Optional[str] = None   # the home held while it runs (one run per home)
    # With lock_home, a shared store held too (one run at a time on it, across a team).
    lock_store: Optional[Store] = None


@dataclasses.dataclass(frozen=True)
class Context:
    """What the CLI gives run(): where the log goes, the home's lock (which records
    the run under way), and the terminal's progress lines."""

    log_path: str
    lock: RunLock
    progress: Progress


PlanT = TypeVar('PlanT', bound=Plan)


class Command(Protocol[PlanT]):
    """A command module; run() takes the plan its check() returns."""

    NAME: str
    HELP: str
    EXAMPLES: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def check(self, args: argparse.Namespace) -> PlanT: ...

    def run(self, plan: PlanT, context: Context) -> ExitStatus: ...


def command(module: Command[PlanT]) -> Command[PlanT]:
    """A command module, checked by mypy to follow the protocol with one plan type."""
    return module
