"""The command line: `python -m runner COMMAND` (or `taxi-pipeline COMMAND`).

Each command is a module of runner/commands with its own arguments and
examples (`python -m runner COMMAND --help`). Exit codes: 0 done, 1 the run or
check found a problem, 2 bad usage or bad input. Errors are one `error:` line
on stderr; library output and tracebacks go to the command's log file
(`--debug` also prints tracebacks on the terminal).
"""

import common.bootstrap  # noqa: F401  (first: the environment before TensorFlow loads)

# isort: split

import argparse
import contextlib
import dataclasses
import logging
import os
import signal
import sys
import traceback
from typing import ContextManager, List, Optional

from common import interruption
from common.argument_parser import ArgumentParser
from common.exit_status import ExitStatus, ProblemFound, UsageError
from operations.execution import RunLock
from runner import commands, home_lock, logs, stopping, store_lock
from runner.command import Command, Context, Plan
from runner.progress import TerminalProgress

PROG = 'python -m runner'


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog=PROG, description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    debug = ArgumentParser(add_help=False)
    debug.add_argument('--debug', action='store_true',
                       help='also print tracebacks on the terminal')
    subparsers = parser.add_subparsers(dest='command_name', required=True, metavar='COMMAND',
                                       parser_class=ArgumentParser)
    for command in commands.ALL:
        sub = subparsers.add_parser(
            command.NAME, help=command.HELP, description=command.__doc__,
            epilog=command.EXAMPLES, parents=[debug],
            formatter_class=argparse.RawDescriptionHelpFormatter)
        command.add_arguments(sub)
        sub.set_defaults(command=command)
    return parser


def _lock(plan: Plan, command: str) -> ContextManager[RunLock]:
    """The home's lock, for plans that run a pipeline on one (runner/home_lock.py),
    and a shared store's, when they record into one (runner/store_lock.py)."""
    if plan.lock_home is None:
        return contextlib.nullcontext(home_lock.NoLock())
    return store_lock.hold(plan.lock_home, plan.lock_store, command)


def _error(status: int, message: str) -> int:
    """One `error:` line: whatever a library's message spans (TensorFlow's run over
    several lines) is put on one."""
    print('error: ' + ' '.join(message.split()), file=sys.stderr, flush=True)
    return status


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a command ended: its exit status, the failure to name on one line (if any),
    a traceback for --debug, and whether its log lost its end (a full disk)."""

    status: int
    failure: Optional[BaseException] = None
    trace: str = ''
    log_incomplete: Optional[str] = None


def _outcome(command: Command, plan: Plan, context: Context) -> Outcome:
    try:
        status = command.run(plan, context)
        interruption.acknowledge()    # done: a late stop no longer interrupts
        return Outcome(status)
    except (UsageError, ProblemFound) as error:
        logging.info('%s: %s', type(error).__name__, error, exc_info=error.__cause__)
        return Outcome(error.status, error)
    except interruption.Interrupted as stop:
        interruption.acknowledge()
        logging.info('%s', stop, exc_info=True)
        return Outcome(stop.exit_status, stop)
    except BrokenPipeError:      # the reader went away (`| head`): done
        return Outcome(ExitStatus.DONE)
    except Exception as error:  # unexpected: the traceback goes to the log
        logging.exception('%s failed', command.NAME)
        problem = ProblemFound(f'{command.NAME} failed: {type(error).__name__}: {error} '
                               f'(traceback in {context.log_path})')
        return Outcome(ExitStatus.PROBLEM, problem, traceback.format_exc())


def _run(command: Command, plan: Plan, log_path: str) -> Outcome:
    """Runs the command with its output in the log, holding the home if it names one."""
    try:
        with _lock(plan, command.NAME) as lock:
            context = Context(log_path, lock, TerminalProgress(sys.stdout, log_path))
            with logs.capture(log_path) as captured:
                outcome = _outcome(command, plan, context)
    except OSError as error:        # the log or the lock could not be written
        raise UsageError(f'cannot write {error.filename or log_path}: {error.strerror}') \
            from error
    return dataclasses.replace(outcome, log_incomplete=captured.incomplete)


def _checked(command: Command, args: argparse.Namespace) -> Plan:
    """The command's plan; library output while it is worked out goes to a log of its
    own (not kept when empty), with the traceback of an unexpected failure."""
    log_path = logs.log_path(command.NAME + '-check', None)
    try:
        with logs.capture(log_path):
            try:
                return command.check(args)   # writes nothing: a refusal leaves no trace
            except (UsageError, ProblemFound, interruption.Interrupted):
                raise
            except Exception as error:
                logging.exception('checking %s failed', command.NAME)
                raise ProblemFound(f'{command.NAME} failed: {type(error).__name__}: {error} '
                                   f'(traceback in {log_path})') from error
    finally:
        logs.remove_if_empty(log_path)


def _checked_and_run(command: Command, args: argparse.Namespace) -> Outcome:
    plan = _checked(command, args)
    log_path = logs.log_path(command.NAME, plan.log_home and os.path.join(plan.log_home, 'logs'))
    return _run(command, plan, log_path)


def _ended(command: Command, args: argparse.Namespace) -> Outcome:
    """The command checked and run, under stoppable signals; how it ended."""
    with stopping.stoppable():
        try:
            outcome = _checked_and_run(command, args)
        except (UsageError, ProblemFound) as error:
            outcome = Outcome(error.status, error)
        except interruption.Interrupted as stop:
            interruption.acknowledge()
            outcome = Outcome(stop.exit_status, stop)
    signum = interruption.requested()
    if outcome.failure is None and signum is not None and interruption.finished():
        print(f'note: {signal.Signals(signum).name} came as the run finished: it completed, '
              'and stands as recorded', file=sys.stderr, flush=True)
    elif outcome.failure is None and signum is not None:   # a stop as the work ended
        late = interruption.Interrupted(signum)
        outcome = dataclasses.replace(outcome, status=late.exit_status, failure=late)
    return outcome


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    outcome = _ended(args.command, args)
    if outcome.failure is None:
        if outcome.log_incomplete:
            print(f'warning: the log lost its end: {outcome.log_incomplete}', file=sys.stderr)
        return outcome.status
    if args.debug:
        print(outcome.trace or ''.join(traceback.format_exception(outcome.failure)),
              file=sys.stderr, end='')
    note = f' (the log lost its end: {outcome.log_incomplete})' if outcome.log_incomplete else ''
    return _error(outcome.status, f'{outcome.failure}{note}')


def entry_point() -> None:
    """`python -m runner` and the console script: main(), then an immediate exit.

    With TensorFlow, Beam and TFX loaded, the interpreter's own teardown takes
    1.5-2 s (measured) after everything is written and closed; os._exit skips it."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            pass     # nobody reads any more; nothing is lost by not writing
    os._exit(code)
