"""Handing freed memory back to the system.

glibc keeps what a process frees in its arenas (one per thread that allocated,
up to 8 per core), so after a burst of large requests the server would stay at
its high-water mark: measured, 1.8 GB after an attack against 0.67 GB before.
malloc_trim(0) returns the free pages of every arena; it runs on a thread of its
own, never on a request's, and at most once a second.
"""

import ctypes
import ctypes.util
import logging
import threading
import time

log = logging.getLogger(__name__)

# Elements admitted during a burst (serving/admission.py) worth a trim afterwards:
# about 100 MB of tensors for the taxi model.
TRIM_AFTER_ELEMENTS = 1 << 20
MIN_SECONDS_BETWEEN_TRIMS = 1.0


def return_free_memory() -> None:
    """malloc_trim(0), where the C library is glibc (others return memory their own way)."""
    try:
        ctypes.CDLL(ctypes.util.find_library('c')).malloc_trim(0)
    except (OSError, AttributeError):
        return


class Trimmer:
    """Trims after bursts: `after_burst(elements)` is Admission's on_idle hook."""

    def __init__(self, threshold: int = TRIM_AFTER_ELEMENTS):
        self._threshold = threshold
        self._due = threading.Event()
        threading.Thread(target=self._loop, name='malloc-trim', daemon=True).start()

    def after_burst(self, elements: int) -> None:
        if elements >= self._threshold:
            self._due.set()

    def _loop(self) -> None:
        while True:
            self._due.wait()
            self._due.clear()
            started = time.monotonic()
            return_free_memory()
            log.debug('malloc_trim after a burst: %.0f ms', (time.monotonic() - started) * 1e3)
            time.sleep(MIN_SECONDS_BETWEEN_TRIMS)
