"""Server health from TF Serving's Prometheus metrics (as our server exports them
too): requests, error rate and latency quantiles of one model, and the limits
they are judged by."""

import urllib.request
from typing import Dict, List, Optional, Tuple

from serving.metrics import REQUEST_COUNT, REQUEST_LATENCY


def _quantile(buckets: List[Tuple[float, float]], q: float) -> Optional[float]:
    """The upper bound of the bucket holding quantile q of a cumulative histogram."""
    total = buckets[-1][1] if buckets else 0
    for bound, cumulative in buckets:
        if total and cumulative >= q * total:
            return bound
    return None


def serving_health(metrics_text: str, model: str) -> Dict[str, Optional[float]]:
    """Requests, error rate and p50/p99 latency (ms) of one model, from TF Serving's
    Prometheus metrics (read with prometheus_client's parser)."""
    from prometheus_client.parser import text_string_to_metric_families
    counts: Dict[str, float] = {}
    buckets: Dict[float, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.labels.get('model_name') != model:
                continue
            if family.name == REQUEST_COUNT:
                status = sample.labels['status']
                counts[status] = counts.get(status, 0) + sample.value
            elif family.name == REQUEST_LATENCY and sample.name.endswith('_bucket'):
                bound = float(sample.labels['le'])   # '+Inf' parses as inf
                buckets[bound] = buckets.get(bound, 0) + sample.value
    ordered = sorted(buckets.items())
    total = sum(counts.values())
    p50, p99 = _quantile(ordered, 0.5), _quantile(ordered, 0.99)
    return {'requests': total,
            'error_rate': (total - counts.get('OK', 0)) / total if total else 0.0,
            'p50_ms': p50 / 1000 if p50 is not None else None,
            'p99_ms': p99 / 1000 if p99 is not None else None}


def check_health(health: Dict, max_error_rate: float, max_p99_ms: float) -> Dict[str, str]:
    problems = {}
    if health['error_rate'] > max_error_rate:
        problems['error_rate'] = f'{health["error_rate"]:.2%} of requests failed ' \
                                 f'(limit {max_error_rate:.2%})'
    if health['p99_ms'] is not None and health['p99_ms'] > max_p99_ms:
        problems['p99_latency'] = f'p99 latency {health["p99_ms"]:.1f} ms (limit {max_p99_ms} ms)'
    return problems


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()
