"""How every command line of the project ends, and the exceptions that say so.

    0  DONE     done
    1  PROBLEM  the run or check found a problem: a failed component, data
                anomalies, an unblessed model, drift, a model that differs from
                the one recorded
    2  USAGE    bad usage or bad input: flags, paths, a home without ML Metadata,
                unknown runs

Commands turn the exceptions into one `error: ...` line on stderr and the code.
"""

import enum


class ExitStatus(enum.IntEnum):
    """A command's exit code."""

    DONE = 0
    PROBLEM = 1
    USAGE = 2


class UsageError(Exception):
    """Bad usage or input (exit 2): the message says what to fix."""

    status = ExitStatus.USAGE


class ProblemFound(Exception):
    """The run or check found a problem (exit 1): the message names it."""

    status = ExitStatus.PROBLEM
