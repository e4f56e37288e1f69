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
import logging
import os
import signal
import sys
import threading
import time
import traceback
from types import FrameType
from typing import ContextManager, Iterator, List, Optional, Tuple

from common import interruption
from common.argument_parser import ArgumentParser
from common.exit_status import ExitStatus, ProblemFound, UsageError
from operations.execution import RunLock
from runner import commands, home_lock, logs
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
    """The home's lock, for plans that run a pipeline on one (runner/home_lock.py)."""
    if plan.lock_home is None:
        return contextlib.nullcontext(home_lock.NoLock())
    return home_lock.hold(plan.lock_home, command)


def _error(status: int, message: str) -> int:
    print(f'error: {message}', file=sys.stderr, flush=True)
    return status


# How often a stop no one has acknowledged is raised again in the main thread.
RESTOP_SECONDS = 1.0


def _stop(signum: int, frame: Optional[FrameType]) -> None:
    """SIGINT and SIGTERM: the stop is recorded for the whole process (see
    common/interruption.py) and raised where the main thread is, again every
    RESTOP_SECONDS until the code that handles it acknowledges it: library code
    that catches too much cannot keep the run going."""
    first = interruption.requested() is None
    interruption.request(signum)
    if interruption.acknowledged():
        return
    if first:
        threading.Thread(target=_restop, args=(signum,), daemon=True,
                         name='stop-again').start()
    raise interruption.Interrupted(signum)


def _restop(signum: int) -> None:
    main = threading.main_thread()
    while main.is_alive() and main.ident is not None and not interruption.acknowledged():
        time.sleep(RESTOP_SECONDS)
        if not interruption.acknowledged():
            signal.pthread_kill(main.ident, signum)


@contextlib.contextmanager
def _stoppable() -> Iterator[None]:
    """SIGINT and SIGTERM stop the command (see _stop) while the block runs."""
    previous = {signum: signal.signal(signum, _stop)
                for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        interruption.acknowledge()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


Outcome = Tuple[int, Optional[BaseException], str]     # exit status, failure, traceback


def _run(command: Command, plan: Plan, log_path: str) -> Outcome:
    """Runs the command with its output in the log."""
    with _lock(plan, command.NAME) as lock:
        context = Context(log_path, lock, TerminalProgress(sys.stdout, log_path))
        with logs.capture(log_path):
            try:
                return command.run(plan, context), None, ''
            except (UsageError, ProblemFound) as error:
                logging.info('%s: %s', type(error).__name__, error, exc_info=error.__cause__)
                return error.status, error, ''
            except interruption.Interrupted as stop:
                interruption.acknowledge()
                logging.info('%s', stop, exc_info=True)
                return stop.exit_status, stop, ''
            except BrokenPipeError:      # the reader went away (`| head`): done
                return ExitStatus.DONE, None, ''
            except Exception as error:  # unexpected: the traceback goes to the log
                logging.exception('%s failed', command.NAME)
                return ExitStatus.PROBLEM, error, traceback.format_exc()


def _checked_and_run(command: Command, args: argparse.Namespace) -> Outcome:
    plan = command.check(args)     # before anything is written: a refusal leaves no trace
    log_path = logs.log_path(command.NAME, plan.log_home and os.path.join(plan.log_home, 'logs'))
    try:
        code, failure, trace = _run(command, plan, log_path)
    except OSError as error:        # the log or the lock could not be written
        raise UsageError(f'cannot write {error.filename or log_path}: {error.strerror}') \
            from error
    if failure is not None and not isinstance(failure, (UsageError, ProblemFound,
                                                       interruption.Interrupted)):
        failure = ProblemFound(f'{command.NAME} failed: {type(failure).__name__}: {failure} '
                               f'(traceback in {log_path})')
    return code, failure, trace


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    command: Command = args.command
    with _stoppable():
        try:
            code, failure, trace = _checked_and_run(command, args)
        except (UsageError, ProblemFound) as error:
            code, failure, trace = error.status, error, ''
        except interruption.Interrupted as stop:
            interruption.acknowledge()
            code, failure, trace = stop.exit_status, stop, ''
    signum = interruption.requested()
    if failure is None and signum is not None:     # a stop that came as the work ended
        failure = interruption.Interrupted(signum)
        code = failure.exit_status
    if failure is None:
        return code
    if args.debug:
        print(trace or ''.join(traceback.format_exception(failure)), file=sys.stderr, end='')
    return _error(code, str(failure))


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
