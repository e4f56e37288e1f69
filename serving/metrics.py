"""Request metrics in Prometheus' text format, under TF Serving's metric names."""

import bisect
import threading
from collections import defaultdict
from typing import Dict, Tuple

# Microseconds, as TF Serving reports request latency.
LATENCY_BUCKETS_US = (100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 50_000, 100_000,
                      250_000, 500_000, 1_000_000, 2_500_000, 10_000_000)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

REQUEST_COUNT = ':tensorflow:serving:request_count'
REQUEST_LATENCY = ':tensorflow:serving:request_latency'
RUNTIME_LATENCY = ':tensorflow:serving:runtime_latency'
BATCH_SIZE = ':tensorflow:serving:batching_session:processed_batch_size'
LOAD_COUNT = ':tensorflow:cc:saved_model:load_attempt_count'
WARMUP_LATENCY = ':tensorflow:serving:model_warmup_latency'
REQUEST_LOG_ERRORS = ':tensorflow:serving:request_log_errors'   # this server's own

_HELP = {
    REQUEST_COUNT: ('counter', 'The total number of requests.'),
    REQUEST_LATENCY: ('histogram', 'Distribution of wall time (in microseconds) for requests.'),
    RUNTIME_LATENCY: ('histogram', 'Distribution of wall time (in microseconds) in the model.'),
    BATCH_SIZE: ('histogram', 'Sizes of the batches the batching layer ran.'),
    LOAD_COUNT: ('counter', 'The number of times a SavedModel was loaded, by status.'),
    WARMUP_LATENCY: ('histogram', 'Distribution of wall time (in microseconds) for warmup.'),
    REQUEST_LOG_ERRORS: ('counter', 'Request log records that could not be written.'),
}
_BUCKETS = {BATCH_SIZE: BATCH_SIZE_BUCKETS}
# The APIs whose request latency TF Serving records (successful calls only), as
# it names them; other calls (status, metadata) count in REQUEST_COUNT alone.
INFERENCE_APIS = ('Predict', 'Classify', 'Regress')

# The model_name label of calls naming a model the server does not serve.
UNKNOWN_MODEL = '__unknown__'

Labels = Tuple[Tuple[str, str], ...]


class Metrics:
    """Thread-safe counters and histograms keyed by metric name and labels."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counters: Dict[str, Dict[Labels, float]] = defaultdict(dict)
        self._histograms: Dict[str, Dict[Labels, list]] = defaultdict(dict)

    def count(self, name: str, amount: float = 1, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._counters[name]
            series[key] = series.get(key, 0) + amount

    def observe(self, name: str, value: float, **labels: str) -> None:
        buckets = _BUCKETS.get(name, LATENCY_BUCKETS_US)
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._histograms[name]
            counts = series.setdefault(key, [[0] * (len(buckets) + 1), 0.0, 0])
            counts[0][bisect.bisect_left(buckets, value)] += 1
            counts[1] += value
            counts[2] += 1

    def record_request(self, model: str, api: str, entrypoint: str, status: str,
                       seconds: float) -> None:
        """One served request, gRPC or REST, as TF Serving counts and times it."""
        self.count(REQUEST_COUNT, model_name=model, status=status)
        if status == 'OK' and api in INFERENCE_APIS:
            self.observe(REQUEST_LATENCY, seconds * 1e6, model_name=model, API=api,
                         entrypoint=entrypoint)

    def prometheus_text(self) -> str:
        lines = []
        with self._lock:
            for name, counters in sorted(self._counters.items()):
                lines += _header(name)
                lines += [f'{name}{_labels(key)} {value:g}'
                          for key, value in sorted(counters.items())]
            for name, histograms in sorted(self._histograms.items()):
                buckets = _BUCKETS.get(name, LATENCY_BUCKETS_US)
                lines += _header(name)
                for key, (counts, total, n) in sorted(histograms.items()):
                    cumulative = 0
                    for bound, count in zip(list(buckets) + ['+Inf'], counts, strict=True):
                        cumulative += count
                        bucket = _labels(key + (('le', str(bound)),))
                        lines.append(f'{name}_bucket{bucket} {cumulative}')
                    lines.append(f'{name}_sum{_labels(key)} {total:g}')
                    lines.append(f'{name}_count{_labels(key)} {n}')
        return '\n'.join(lines) + '\n'


def _header(name: str):
    kind, text = _HELP.get(name, ('untyped', ''))
    return [f'# HELP {name} {text}', f'# TYPE {name} {kind}']


def _labels(key: Labels) -> str:
    if not key:
        return ''
    def escape(value):
        return str(value).replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')
    return '{' + ','.join(f'{k}="{escape(v)}"' for k, v in key) + '}'
