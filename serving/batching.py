"""Dynamic batching: concurrent requests to one signature run as one call.

A batch thread takes whatever is queued when it becomes free (up to
max_batch_size rows), so a lone request runs at once and waits for nobody;
under load, requests that arrive while a batch runs form the next one. With
batch_timeout_micros > 0 a thread waits up to that long to fill a batch.
If a merged batch fails, its requests are retried one by one, so a bad
request fails alone.
"""

import collections
import os
import threading
import time
import weakref
from typing import Deque, Dict, List, Optional, Sequence, Tuple

import grpc
import numpy as np

from serving.errors import ServingError
from serving.metrics import BATCH_SIZE, Metrics

_IDLE_SECONDS = 30  # a batch thread with nothing to do for this long exits


class BatchingOptions:
    """BatchingParameters with TF Serving's meaning and our defaults."""

    def __init__(self, params=None):
        def value(field, default):
            return getattr(params, field).value if params is not None and params.HasField(field) \
                else default
        self.max_batch_size = value('max_batch_size', 128)
        self.timeout_seconds = value('batch_timeout_micros', 0) / 1e6
        self.max_enqueued_batches = value('max_enqueued_batches', 100)
        self.num_batch_threads = value('num_batch_threads', os.cpu_count() or 1)
        self.allowed_batch_sizes = sorted(params.allowed_batch_sizes) if params is not None else []
        if self.allowed_batch_sizes and self.allowed_batch_sizes[-1] != self.max_batch_size:
            raise ValueError('The last entry of allowed_batch_sizes must equal max_batch_size')


class _Task:
    __slots__ = ('inputs', 'rows', 'done', 'outputs', 'error', 'enqueued')

    def __init__(self, inputs, rows):
        self.inputs, self.rows = inputs, rows
        self.done = threading.Event()
        self.outputs: Optional[Dict[str, np.ndarray]] = None
        self.error: Optional[BaseException] = None
        self.enqueued = time.monotonic()


def _merge(tasks: Sequence[_Task], pad_to: int) -> Dict[str, np.ndarray]:
    merged = {name: np.concatenate([t.inputs[name] for t in tasks]) for name in tasks[0].inputs}
    rows = sum(t.rows for t in tasks)
    if pad_to > rows:  # repeat the last row up to an allowed batch size
        merged = {name: np.concatenate([value, np.repeat(value[-1:], pad_to - rows, axis=0)])
                  for name, value in merged.items()}
    return merged


class _Queue:
    """The queue and batch threads of one servable's signature and outputs.

    It holds the servable weakly: once unloaded and out of use, the model's
    memory goes, and its idle batch threads exit.
    """

    def __init__(self, servable, signature: str, outputs: Tuple[str, ...],
                 options: BatchingOptions, metrics: Metrics):
        self._servable = weakref.ref(servable)
        self._signature, self._outputs = signature, outputs
        self._options, self._metrics = options, metrics
        self._tasks: Deque[_Task] = collections.deque()
        self._queued_rows = 0
        self._cond = threading.Condition()
        self._threads = 0
        self._idle = 0

    def submit(self, task: _Task) -> None:
        with self._cond:
            capacity = self._options.max_enqueued_batches * self._options.max_batch_size
            if self._queued_rows + task.rows > capacity:
                raise ServingError(grpc.StatusCode.UNAVAILABLE,
                                   'The batch scheduling queue to which this task was submitted '
                                   'is full')
            self._tasks.append(task)
            self._queued_rows += task.rows
            if self._idle:
                self._cond.notify()
            elif self._threads < self._options.num_batch_threads:
                self._threads += 1
                threading.Thread(target=self._work, name='batch', daemon=True).start()

    def _take_batch(self) -> List[_Task]:
        """Called with the lock held and at least one task queued."""
        limit = self._options.max_batch_size
        deadline = self._tasks[0].enqueued + self._options.timeout_seconds
        while self._queued_rows < limit and time.monotonic() < deadline:
            self._cond.wait(deadline - time.monotonic())
        batch, rows = [], 0
        while self._tasks and rows + self._tasks[0].rows <= limit:
            task = self._tasks.popleft()
            rows += task.rows
            batch.append(task)
        self._queued_rows -= rows
        return batch

    def _work(self) -> None:
        while True:
            with self._cond:
                self._idle += 1
                if not self._tasks:
                    self._cond.wait(_IDLE_SECONDS)
                self._idle -= 1
                if not self._tasks:
                    self._threads -= 1
                    return
                batch = self._take_batch()
            if batch:  # other threads may have emptied the queue while this one waited
                self._execute(batch)

    def _padded_size(self, rows: int) -> int:
        return next((size for size in self._options.allowed_batch_sizes if size >= rows), rows)

    def _execute(self, batch: List[_Task]) -> None:
        rows = sum(t.rows for t in batch)
        try:
            servable = self._servable()  # alive: the requests waiting here hold it
            assert servable is not None
            outputs = servable.run(self._signature, _merge(batch, self._padded_size(rows)),
                                   self._outputs)
            self._metrics.observe(BATCH_SIZE, rows, model_name=servable.name)
            offset = 0
            for task in batch:
                task.outputs = {k: v[offset:offset + task.rows] for k, v in outputs.items()}
                offset += task.rows
        except Exception as error:
            if len(batch) == 1:
                batch[0].error = error
            else:  # find the request at fault: run each alone
                for task in batch:
                    self._execute([task])
                return
        for task in batch:
            task.done.set()


class Batcher:
    """Runs servable signatures through per-signature batch queues."""

    def __init__(self, options: BatchingOptions, metrics: Metrics):
        self._options = options
        self._metrics = metrics
        # servable -> {(signature, outputs): _Queue}
        self._queues: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def run(self, servable, signature: str, inputs: Dict[str, np.ndarray],
            outputs: Sequence[str]) -> Dict[str, np.ndarray]:
        """Same contract as Servable.run, executed as part of a batch."""
        sizes = {len(v) if v.ndim else -1 for v in inputs.values()}
        rows = sizes.pop() if len(sizes) == 1 else -1
        if rows < 1 or rows > self._options.max_batch_size:
            return servable.run(signature, inputs, outputs)  # no common batch dim, or too big
        key = (signature, tuple(outputs))
        with self._lock:
            queues = self._queues.setdefault(servable, {})
            queue = queues.get(key)
            if queue is None:
                queue = queues[key] = _Queue(servable, signature, key[1], self._options,
                                             self._metrics)
        task = _Task(inputs, rows)
        queue.submit(task)
        task.done.wait()
        if task.error is not None:
            raise task.error
        assert task.outputs is not None
        return task.outputs
