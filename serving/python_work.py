"""A few threads at a time doing Python work; any number inside TensorFlow.

Parsing a request, building its tensors and its reply hold the GIL, much of it
in single C calls (a 10 MB message parses in one). With a dozen inference
threads doing that at once, the event loops (health, status) wait for the GIL
behind all of them: Python gives it to whichever waiting thread wakes first.
Inference threads take a slot for their Python work and give it back while
TensorFlow runs (it releases the GIL), so the loops compete with a few threads,
not with every request under way, and a batch that waits to fill holds no slot.
"""

import contextlib
import os
import threading

SLOTS = os.cpu_count() or 1


class PythonWork:
    def __init__(self, slots: int = SLOTS):
        self._slots = threading.BoundedSemaphore(slots)
        self._held = threading.local()

    @contextlib.contextmanager
    def slot(self):
        """Runs the block holding a slot (a thread that holds one already keeps it)."""
        if getattr(self._held, 'slot', False):
            yield
            return
        with self._slots:
            self._held.slot = True
            try:
                yield
            finally:
                self._held.slot = False

    @contextlib.contextmanager
    def outside(self):
        """Runs the block without the caller's slot, if it holds one (TensorFlow's
        own work, a wait for a batch), and takes a slot again after."""
        if not getattr(self._held, 'slot', False):
            yield
            return
        self._held.slot = False
        self._slots.release()
        try:
            yield
        finally:
            self._slots.acquire()
            self._held.slot = True
