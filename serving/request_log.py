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
its own, so a slow disk never delays a response (when the queue is full, the
sample is dropped and counted).
"""

import logging
import os
import queue
import random
import threading
import time
from typing import Dict, Optional, Tuple

from tensorflow_serving.apis import logging_pb2, prediction_log_pb2

log = logging.getLogger(__name__)

_LOG_FIELDS = {'predict': ('predict_log', prediction_log_pb2.PredictLog),
               'classify': ('classify_log', prediction_log_pb2.ClassifyLog),
               'regress': ('regress_log', prediction_log_pb2.RegressLog),
               'multi_inference': ('multi_inference_log', prediction_log_pb2.MultiInferenceLog)}


class RequestLogger:
    """Samples and writes one model's requests."""

    def __init__(self, filename_prefix: str, sampling_rate: float, max_file_bytes: int,
                 max_file_seconds: float, queue_size: int = 10_000):
        self.filename_prefix = filename_prefix
        self.sampling_rate = sampling_rate
        self.dropped = 0
        self._max_bytes, self._max_seconds = max_file_bytes, max_file_seconds
        self._queue: 'queue.Queue[Optional[bytes]]' = queue.Queue(queue_size)
        self._thread = threading.Thread(target=self._write_loop, name='request-log', daemon=True)
        self._thread.start()

    def log(self, kind: str, request, response) -> None:
        if random.random() >= self.sampling_rate:
            return
        field, message = _LOG_FIELDS[kind]
        entry = prediction_log_pb2.PredictionLog(log_metadata=logging_pb2.LogMetadata(
            model_spec=response.model_spec if kind != 'multi_inference'
            else response.results[0].model_spec,
            sampling_config={'sampling_rate': self.sampling_rate},
            saved_model_tags=['serve'], timestamp_secs=int(time.time())))
        getattr(entry, field).CopyFrom(message(request=request, response=response))
        try:
            self._queue.put_nowait(entry.SerializeToString())
        except queue.Full:
            self.dropped += 1

    def close(self) -> None:
        """Writes what is queued and closes the current file."""
        self._queue.put(None)
        self._thread.join()

    def _write_loop(self) -> None:
        import tensorflow as tf
        writer, written, opened, sequence = None, 0, 0.0, 0
        while True:
            try:
                record = self._queue.get(timeout=1.0)
            except queue.Empty:
                record = ''
            too_old = writer is not None and time.time() - opened >= self._max_seconds
            if writer is not None and (record is None or too_old or written >= self._max_bytes):
                writer.close()
                writer = None
            if record is None:
                return
            if not record:
                continue
            if writer is None:
                opened, written, sequence = time.time(), 0, sequence + 1
                path = f'{self.filename_prefix}-{int(opened * 1000):013d}-{sequence:06d}.tfrecord'
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
                writer = tf.io.TFRecordWriter(path)
            writer.write(record)
            writer.flush()
            written += len(record) + 16   # TFRecord framing


class RequestLogs:
    """The RequestLogger of each model whose config asks for logging."""

    def __init__(self, max_file_bytes: int, max_file_seconds: float):
        self._max_bytes, self._max_seconds = max_file_bytes, max_file_seconds
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
                self._loggers[key] = RequestLogger(prefix, rate, self._max_bytes, self._max_seconds)
                log.info('Logging %.0f%% of requests to %s-*.tfrecord', rate * 100, prefix)
            return self._loggers[key]

    def close(self) -> None:
        with self._lock:
            for logger in self._loggers.values():
                logger.close()
