"""How every command ends, and the exceptions that say so.

    0  done
    1  the run or check found a problem: a failed component, data anomalies, an
       unblessed model, drift, a model that differs from the one recorded
    2  bad usage or bad input: flags, paths, a home without ML Metadata, unknown runs

The CLI turns these exceptions into one `error: ...` line on stderr.
"""

DONE, PROBLEM, USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad usage or input (exit 2): the message says what to fix."""


class ProblemFound(Exception):
    """The run or check found a problem (exit 1): the message names it."""
