"""The command line: `python -m runner COMMAND` (or `taxi-pipeline COMMAND`).

Each command is a module of runner/commands with its own arguments and
examples (`python -m runner COMMAND --help`). Exit codes: 0 done, 1 the run or
check found a problem, 2 bad usage or bad input. Errors are one `error:` line
on stderr; library output and tracebacks go to the command's log file
(`--debug` also prints tracebacks on the terminal).
"""

import common.bootstrap  # noqa: F401  (first: the environment before TensorFlow loads)

import argparse
import contextlib
import logging
import os
import sys
import traceback
from typing import List, Optional

from common.cli import ArgumentParser
from runner import commands, home_lock, logs
from runner.errors import PROBLEM, USAGE, ProblemFound, UsageError

PROG = 'python -m runner'


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog=PROG, description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    debug = argparse.ArgumentParser(add_help=False)
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


def _logs_dir(args) -> Optional[str]:
    """HOME/logs for commands that write to their home, else None (a temporary directory)."""
    home = getattr(args, 'home', None)
    return os.path.join(os.path.abspath(home), 'logs') if home and args.command.WRITES_HOME \
        else None


def _lock(args):
    """The home's lock, for commands that run a pipeline on it (see runner/home_lock.py);
    yields a function that records the run id being worked on."""
    home = getattr(args.command, 'home_to_lock', lambda _: None)(args)
    if home is None:
        return contextlib.nullcontext(lambda run_id: None)
    return home_lock.hold(os.path.abspath(home), args.command.NAME)


def _error(code: int, message: str) -> int:
    print(f'error: {message}', file=sys.stderr, flush=True)
    return code


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command
    try:
        command.check(args)          # before anything is written: a refusal leaves no trace
    except UsageError as error:
        return _error(USAGE, str(error))
    args.log_path = logs.log_path(command.NAME, _logs_dir(args))
    failure, trace = None, ''
    try:
        with _lock(args) as working_on:
            args.working_on = working_on
            with logs.capture(args.log_path):
                try:
                    code = command.run(args)
                except (UsageError, ProblemFound) as error:
                    failure = error
                    logging.info('%s: %s', type(error).__name__, error,
                                 exc_info=error.__cause__)
                except BrokenPipeError:      # the reader went away (`| head`): done
                    code = 0
                except Exception as error:  # unexpected: the traceback goes to the log
                    failure, trace = error, traceback.format_exc()
                    logging.exception('%s failed', command.NAME)
    except UsageError as error:          # the home is in use
        return _error(USAGE, str(error))
    if failure is None:
        return code
    if args.debug:
        print(trace or ''.join(traceback.format_exception(failure)), file=sys.stderr, end='')
    if isinstance(failure, UsageError):
        return _error(USAGE, str(failure))
    if isinstance(failure, ProblemFound):
        return _error(PROBLEM, str(failure))
    return _error(PROBLEM, f'{command.NAME} failed: {type(failure).__name__}: {failure} '
                           f'(traceback in {args.log_path})')


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

