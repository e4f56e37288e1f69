"""An asyncio event loop on a thread of its own.

Each server (gRPC, REST) runs its sockets on one: a connection costs a socket,
not a thread, and the calls that do no inference (health, model status,
metadata) are answered on the loop itself, never queued behind inference,
which runs on thread pools.
"""

import asyncio
import threading
from concurrent import futures
from typing import Optional


def inference_pool(threads: int, name: str) -> futures.ThreadPoolExecutor:
    """A pool for inference, apart from the loop."""
    return futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)


class LoopThread:
    def __init__(self, name: str):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coroutine, timeout: Optional[float] = None):
        """Runs a coroutine on the loop from another thread; returns its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
