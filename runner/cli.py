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
import sys
import traceback
from typing import Callable, ContextManager, List, Optional, Tuple

from common.argument_parser import ArgumentParser
from common.exit_status import ExitStatus, ProblemFound, UsageError
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


def _lock(plan: Plan, command: str) -> ContextManager[Callable[[str], None]]:
    """The home's lock, for plans that run a pipeline on one (runner/home_lock.py);
    yields a function that records the run id being worked on."""
    if plan.lock_home is None:
        return contextlib.nullcontext(lambda run_id: None)
    return home_lock.hold(plan.lock_home, command)


def _error(status: ExitStatus, message: str) -> int:
    print(f'error: {message}', file=sys.stderr, flush=True)
    return status


def _run(command: Command, plan: Plan,
         log_path: str) -> Tuple[int, Optional[BaseException], str]:
    """Runs the command with its output in the log; (exit code, failure, traceback)."""
    try:
        with _lock(plan, command.NAME) as working_on:
            context = Context(log_path, working_on, TerminalProgress(sys.stdout, log_path))
            with logs.capture(log_path):
                try:
                    return command.run(plan, context), None, ''
                except (UsageError, ProblemFound) as error:
                    logging.info('%s: %s', type(error).__name__, error,
                                 exc_info=error.__cause__)
                    return error.status, error, ''
                except BrokenPipeError:      # the reader went away (`| head`): done
                    return ExitStatus.DONE, None, ''
                except Exception as error:  # unexpected: the traceback goes to the log
                    logging.exception('%s failed', command.NAME)
                    return ExitStatus.PROBLEM, error, traceback.format_exc()
    except UsageError as error:          # the home is in use
        return error.status, error, ''


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    command: Command = args.command
    try:
        plan = command.check(args)   # before anything is written: a refusal leaves no trace
    except UsageError as error:
        return _error(error.status, str(error))
    log_path = logs.log_path(command.NAME, plan.log_home and os.path.join(plan.log_home, 'logs'))
    code, failure, trace = _run(command, plan, log_path)
    if failure is None:
        return code
    if args.debug:
        print(trace or ''.join(traceback.format_exception(failure)), file=sys.stderr, end='')
    if isinstance(failure, (UsageError, ProblemFound)):
        return _error(failure.status, str(failure))
    return _error(ExitStatus.PROBLEM, f'{command.NAME} failed: {type(failure).__name__}: '
                                      f'{failure} (traceback in {log_path})')


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
