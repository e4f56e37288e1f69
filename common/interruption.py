"""A stop asked for by a signal (Ctrl-C's SIGINT, SIGTERM), for the whole process.

Python turns SIGINT into a KeyboardInterrupt wherever the main thread happens
to be, and code that catches too much (in Beam, TFX, TensorFlow) can swallow
it: a run went on and pushed after Ctrl-C. So the stop is also kept here, and
the places that must not go on after it ask: before a component starts
(operations.execution) and before a pushed version is made visible
(pipeline.pusher). The command line raises the stop again until the code that
handles it acknowledges it (runner/stopping.py).
"""

import signal
from typing import Optional

_requested: Optional[int] = None
_acknowledged = False
_finished = False


class Interrupted(BaseException):
    """The process was asked to stop by a signal. A BaseException, like
    KeyboardInterrupt: `except Exception` does not catch it."""

    def __init__(self, signum: int):
        super().__init__(f'stopped by {signal.Signals(signum).name}')
        self.signum = signum

    @property
    def exit_status(self) -> int:
        """128 + the signal's number, as shells report a process a signal ended."""
        return 128 + self.signum


def reset() -> None:
    """No stop asked for (a new command in this process)."""
    global _requested, _acknowledged, _finished
    _requested, _acknowledged, _finished = None, False, False


def request(signum: int) -> None:
    """Records that a signal asked the process to stop."""
    global _requested
    _requested = signum


def requested() -> Optional[int]:
    """The signal that asked the process to stop, if one did."""
    return _requested


def acknowledge() -> None:
    """The stop is being handled (cleanup, the last words): raise it no more."""
    global _acknowledged
    _acknowledged = True


def acknowledged() -> bool:
    return _acknowledged


def finish() -> None:
    """The work a stop would end has finished and is recorded (a run complete): a stop
    asked for before or from now on is noted, not raised, and the command's outcome
    stands (its record and its exit status say the same). resume() undoes it."""
    global _finished
    _finished = True
    acknowledge()


def finished() -> bool:
    return _finished


def resume() -> None:
    """More work follows finish() (the next run of a loop): a stop stops it again, and
    one asked for meanwhile takes effect now (Interrupted)."""
    global _finished, _acknowledged
    _finished = _acknowledged = False
    check()


def check() -> None:
    """Raises Interrupted if a stop was asked for."""
    if _requested is not None:
        raise Interrupted(_requested)
