"""SIGINT (Ctrl-C) and SIGTERM stop a command.

The stop is recorded for the whole process (common/interruption.py) and raised
where the main thread is, then again every RESTOP_SECONDS until the code that
handles it acknowledges it: library code that catches too much (TensorFlow
swallowed one) cannot keep a run going. While a stop is being handled (its
exception is in flight, or it was acknowledged) a further signal is only
recorded, so that cleanup runs undisturbed.
"""

import contextlib
import signal
import sys
import threading
from types import FrameType
from typing import Iterator, Optional

from common import interruption

# How often a stop no one has acknowledged is raised again in the main thread.
RESTOP_SECONDS = 1.0
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Stopper:
    """The signal handler, and the thread that raises an unacknowledged stop again."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.thread: Optional[threading.Thread] = None

    def handle(self, signum: int, frame: Optional[FrameType]) -> None:
        interruption.request(signum)
        if interruption.acknowledged() or isinstance(sys.exc_info()[1],
                                                     interruption.Interrupted):
            return
        if self.thread is None or not self.thread.is_alive():    # resumed: once again
            self.thread = threading.Thread(target=self._restop, args=(signum,), daemon=True,
                                           name='stop-again')
            self.thread.start()
        raise interruption.Interrupted(signum)

    def _restop(self, signum: int) -> None:
        main = threading.main_thread().ident
        while not self.done.wait(RESTOP_SECONDS):
            if interruption.acknowledged() or main is None:
                return
            signal.pthread_kill(main, signum)


@contextlib.contextmanager
def stoppable() -> Iterator[None]:
    """SIGINT and SIGTERM stop what runs in the block (see the module's doc); the
    previous handlers are back afterwards, with no stop left pending."""
    interruption.reset()
    stopper = _Stopper()
    previous = {signum: signal.signal(signum, stopper.handle) for signum in SIGNALS}
    try:
        yield
    finally:
        interruption.acknowledge()
        stopper.done.set()
        if stopper.thread is not None:
            stopper.thread.join()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
