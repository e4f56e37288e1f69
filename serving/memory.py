"""Handing freed memory back to the system.

glibc keeps what a process frees in its arenas (one per thread that allocated,
up to 8 per core), so after a burst of large requests the server would stay at
its high-water mark: measured, 1.8 GB after an attack against 0.67 GB before.
malloc_trim(0) returns the free pages of every arena; it runs on a thread of its
own, never on a request's, once after each burst. The arenas are capped (ARENAS):
pages shared between the frees of many arenas are the ones no trim can return.
"""

import ctypes
import ctypes.util
import logging
import os
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)

# A burst is over once no request has arrived for this long; then its memory goes back.
QUIET_SECONDS = 1.0
# glibc's arenas: one per thread that allocates at once, up to 8 per core. What a burst
# frees is spread over all of them, in pages that each keep some live allocation, and
# malloc_trim cannot return those. Measured in process, after the trim: 4 wide Classify
# calls at once left +87 MB with 8 per core, +0 to +18 MB with 2 arenas, +0 with 1; 4
# REST Classify calls of 100k examples +9 to +87 MB, +4 to +53 MB, +5 to +7 MB. One
# arena per two cores (one on two): TensorFlow's own threads keep their tcache.
ARENAS = max(1, (os.cpu_count() or 1) // 2)
_M_ARENA_MAX = -8                 # mallopt's parameter number, malloc.h


def limit_arenas(count: int = ARENAS) -> bool:
    """Caps glibc's malloc arenas at `count`, before the server's threads start; False
    where it does not apply (not glibc, or MALLOC_ARENA_MAX set: the operator's wins)."""
    if 'MALLOC_ARENA_MAX' in os.environ:
        return False
    try:
        return bool(ctypes.CDLL(ctypes.util.find_library('c')).mallopt(_M_ARENA_MAX, count))
    except (OSError, AttributeError):
        return False


def return_free_memory() -> None:
    """malloc_trim(0), where the C library is glibc (others return memory their own way)."""
    try:
        ctypes.CDLL(ctypes.util.find_library('c')).malloc_trim(0)
    except (OSError, AttributeError):
        return


class Trimmer:
    """Hands memory back after each burst of requests, whatever they were (admitted,
    refused, cancelled): `activity()` is called as each inference request arrives and
    as it ends (it sets an attribute); a thread of its own looks every QUIET_SECONDS
    and, once a look finds none since the last, trims. Under steady load it never
    trims (the memory is in use); after a burst, one trim 1-2 s after its last request
    ended, never while `busy()` says calls are under way (the trim holds malloc's lock
    while it walks the heap). Arrivals alone trimmed while 7 s requests were still
    under way, and not after them."""

    def __init__(self, trim: Callable[[], None] = return_free_memory,
                 busy: Callable[[], bool] = lambda: False):
        self._trim, self._busy = trim, busy
        self._seen = False
        threading.Thread(target=self._loop, name='malloc-trim', daemon=True).start()

    def activity(self) -> None:
        self._seen = True

    def _loop(self) -> None:
        pending = False
        while True:
            time.sleep(QUIET_SECONDS)
            if self._seen:             # requests still arriving: the burst goes on
                self._seen, pending = False, True
            elif pending and not self._busy():   # none under way: trim locks malloc
                pending = False
                started = time.monotonic()
                self._trim()
                log.debug('malloc_trim after a burst: %.0f ms',
                          (time.monotonic() - started) * 1e3)
