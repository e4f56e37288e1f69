"""Request logging, as TF Serving configures it per model in ModelServerConfig:

    logging_config {
      log_collector_config { type: "file" filename_prefix: "/logs/chicago_taxi" }
      sampling_config { sampling_rate: 0.1 }
    }

A sampled share of the requests each model serves, with its response and the
model version that answered, goes to TFRecord files of PredictionLog named
<filename_prefix>-<ms since epoch>-<sequence>.tfrecord (names sort in time
order); a file is closed
and a new one started past a size or an age. Writing happens on a thread of
its own, so a slow disk never delays a response (when the queue is full, in
records or in bytes, the sample is dropped and counted).
"""

import logging
import os
import queue
import random
import threading
import time
from typing import Dict, Optional, Tuple

from tensorflow_serving.apis import logging_pb2, prediction_log_pb2

from serving.metrics import REQUEST_LOG_ERRORS

log = logging.getLogger(__name__)

_LOG_FIELDS = {'predict': ('predict_log', prediction_log_pb2.PredictLog),
               'classify': ('classify_log', prediction_log_pb2.ClassifyLog),
               'regress': ('regress_log', prediction_log_pb2.RegressLog),
               'multi_inference': ('multi_inference_log', prediction_log_pb2.MultiInferenceLog)}


CLOSE_SECONDS = 10      # the longest close() waits for the writer to drain its queue
QUEUE_BYTES = 64 << 20  # the most bytes of records waiting for the writer
_FRAMING = 16           # a TFRecord's length, and the CRCs of length and data


class RequestLogger:
    """Samples and writes one model's requests. Files are the owner's alone (0600, in
    0700 directories), and none grows past max_file_bytes: a new file starts before a
    record that would pass it, and a record larger than that is dropped and counted.
    A write that fails (a prefix under a regular file, a full disk) drops that
    record, counts it in the REQUEST_LOG_ERRORS metric and is logged once per run
    of failures; the writer keeps going, and close() never waits long."""

    def __init__(self, filename_prefix: str, sampling_rate: float, max_file_bytes: int,
                 max_file_seconds: float, metrics=None, queue_size: int = 10_000):
        self.filename_prefix = filename_prefix
        self.sampling_rate = sampling_rate
        self.dropped = 0
        self.errors = 0
        self._metrics = metrics
        self._max_bytes, self._max_seconds = max_file_bytes, max_file_seconds
        self._queue: 'queue.Queue[Optional[bytes]]' = queue.Queue(queue_size)
        self._queued_bytes = 0       # of the records in the queue (written by two threads)
        self._queued_lock = threading.Lock()
        self._thread = threading.Thread(target=self._write_loop, name='request-log', daemon=True)
        self._thread.start()

    def log(self, kind: str, request, response) -> None:
        """Samples a request: tensorflow_serving.apis' message, or the same request in
        another type of the same wire format (serving/example_requests.py)."""
        if random.random() >= self.sampling_rate:
            return
        field, message = _LOG_FIELDS[kind]
        entry = prediction_log_pb2.PredictionLog(log_metadata=logging_pb2.LogMetadata(
            model_spec=response.model_spec if kind != 'multi_inference'
            else response.results[0].model_spec,
            sampling_config={'sampling_rate': self.sampling_rate},
            saved_model_tags=['serve'], timestamp_secs=int(time.time())))
        logged = message(response=response)
        logged.request.MergeFromString(request.SerializeToString())
        getattr(entry, field).CopyFrom(logged)
        self._enqueue(entry.SerializeToString())

    def _enqueue(self, record: bytes) -> None:
        with self._queued_lock:
            if self._queued_bytes + len(record) > QUEUE_BYTES:
                self.dropped += 1
                return
            self._queued_bytes += len(record)
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._dequeued(record)
            self.dropped += 1

    def _dequeued(self, record: Optional[bytes]) -> None:
        if record:
            with self._queued_lock:
                self._queued_bytes -= len(record)

    def close(self) -> None:
        """Writes what is queued (for up to CLOSE_SECONDS) and closes the current file."""
        try:
            self._queue.put(None, timeout=CLOSE_SECONDS)
        except queue.Full:
            log.error('Request log %s: writer stuck; %d records not written',
                      self.filename_prefix, self._queue.qsize())
            return
        self._thread.join(CLOSE_SECONDS)

    def _open(self, sequence: int):
        import tensorflow as tf
        path = f'{self.filename_prefix}-{int(time.time() * 1000):013d}-{sequence:06d}.tfrecord'
        os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        return tf.io.TFRecordWriter(path)    # writes into the file made above, keeping its mode

    def _oversized(self, size: int) -> None:
        self.dropped += 1
        if self._metrics is not None:
            self._metrics.count(REQUEST_LOG_ERRORS, filename_prefix=self.filename_prefix)
        log.warning('Request log %s: dropped a record of %d bytes, more than a file may hold '
                    '(--request_log_max_file_mb)', self.filename_prefix, size)

    def _failed(self, error: Exception, failing: bool) -> None:
        self.errors += 1
        if self._metrics is not None:
            self._metrics.count(REQUEST_LOG_ERRORS, filename_prefix=self.filename_prefix)
        if not failing:
            log.error('Request log %s: cannot write (%s: %s); dropping records until it can',
                      self.filename_prefix, type(error).__name__, error)

    def _write_loop(self) -> None:
        writer, written, opened, sequence, failing = None, 0, 0.0, 0, False
        while True:
            try:
                record = self._queue.get(timeout=1.0)
            except queue.Empty:
                record = b''
            self._dequeued(record)
            size = len(record) + _FRAMING if record else 0
            too_old = writer is not None and time.time() - opened >= self._max_seconds
            too_big = writer is not None and written + size > self._max_bytes
            if writer is not None and (record is None or too_old or too_big):
                writer.close()
                writer = None
            if record is None:
                return
            if not record:
                continue
            if size > self._max_bytes:      # no file may pass the limit: drop it
                self._oversized(size)
                continue
            try:
                if writer is None:
                    sequence += 1
                    writer, opened, written = self._open(sequence), time.time(), 0
                writer.write(record)
                writer.flush()
                written += size
                failing = False
            except Exception as error:  # the log, not the server: count, log once, go on
                self._failed(error, failing)
                writer, failing = None, True


class RequestLogs:
    """The RequestLogger of each model whose config asks for logging."""

    def __init__(self, max_file_bytes: int, max_file_seconds: float, metrics=None):
        self._max_bytes, self._max_seconds = max_file_bytes, max_file_seconds
        self._metrics = metrics
        self._loggers: Dict[Tuple[str, float], RequestLogger] = {}
        self._lock = threading.Lock()

    def for_model(self, model_config) -> Optional[RequestLogger]:
        if model_config is None or not model_config.HasField('logging_config'):
            return None
        config = model_config.logging_config
        prefix = config.log_collector_config.filename_prefix
        rate = config.sampling_config.sampling_rate
        if not prefix or rate <= 0:
            return None
        with self._lock:
            key = (prefix, rate)
            if key not in self._loggers:
                self._loggers[key] = RequestLogger(prefix, rate, self._max_bytes,
                                                   self._max_seconds, self._metrics)
                log.info('Logging %.0f%% of requests to %s-*.tfrecord', rate * 100, prefix)
            return self._loggers[key]

    def close(self) -> None:
        with self._lock:
            for logger in self._loggers.values():
                logger.close()
