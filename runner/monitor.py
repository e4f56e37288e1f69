"""Serving monitor: the model server's request logs against the training data.

  skew   served examples against the training split, with the schema's skew
         comparators and thresholds: L-infinity distance for categorical
         features (TFDV), Jensen-Shannon divergence for numeric ones;
  drift  the same between consecutive windows of served traffic (drift comparators);
  data   the served examples against the schema in its SERVING environment;
  health error rate and p99 latency from the server's Prometheus metrics.

Numeric Jensen-Shannon divergence is taken over the reference's quantile
buckets (deciles), not TFDV's equal-width histograms: on fares and miles,
whose maxima are outliers hundreds of times the median, equal-width buckets put
nearly everything in the first bucket, and TFDV reported JSD 0.3-0.8 between
two samples of the same data (threshold 0.1).

The report goes to HOME/monitoring/report-<time>.json (and latest.json); any
anomaly makes the run "unhealthy", which the CLI turns into a non-zero exit
(or, with --retrain, a pipeline run).
"""

import glob
import json
import os
import tempfile
import time
import urllib.request
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2
from tensorflow_serving.apis import prediction_log_pb2

from pipeline import mlmd
from serving.metrics import REQUEST_COUNT, REQUEST_LATENCY


def served_examples(paths: Sequence[str]) -> List[Tuple[int, bytes]]:
    """(timestamp, serialized tf.Example) of every example in the request logs, in time order."""
    import tensorflow as tf
    examples = []
    for path in sorted(paths):
        for record in tf.data.TFRecordDataset(path):
            entry = prediction_log_pb2.PredictionLog.FromString(record.numpy())
            kind = entry.WhichOneof('log_type')
            when = entry.log_metadata.timestamp_secs
            if kind == 'predict_log':
                for tensor in entry.predict_log.request.inputs.values():
                    examples += [(when, value) for value in tensor.string_val]
            elif kind in ('classify_log', 'regress_log', 'multi_inference_log'):
                request_input = getattr(entry, kind).request.input
                listed = request_input.example_list.examples or \
                    request_input.example_list_with_context.examples
                examples += [(when, e.SerializeToString()) for e in listed]
    return sorted(examples, key=lambda pair: pair[0])


def statistics_of(examples: Sequence[bytes]) -> statistics_pb2.DatasetFeatureStatisticsList:
    """TFDV statistics of serialized tf.Examples (on Beam, as StatisticsGen computes them)."""
    import tensorflow as tf
    import tensorflow_data_validation as tfdv
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, 'examples.tfrecord')
        with tf.io.TFRecordWriter(path) as writer:
            for example in examples:
                writer.write(example)
        return tfdv.generate_statistics_from_tfrecord(path)


def _anomalies(result: anomalies_pb2.Anomalies) -> Dict[str, str]:
    return {feature: '; '.join(f'{anomalies_pb2.AnomalyInfo.Type.Name(r.type)}: {r.description}'
                               for r in info.reason)
            for feature, info in sorted(result.anomaly_info.items())}


def feature_values(examples: Sequence[bytes], name: str) -> np.ndarray:
    """The numeric values of one feature over serialized tf.Examples (absent ones skipped)."""
    from tensorflow.core.example import example_pb2
    values = []
    for serialized in examples:
        feature = example_pb2.Example.FromString(serialized).features.feature.get(name)
        if feature is not None:
            values += list(feature.float_list.value) or list(feature.int64_list.value)
    return np.asarray(values, dtype=np.float64)


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence of two distributions, base 2 (0 same, 1 disjoint)."""
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a):
        nonzero = a > 0
        return float(np.sum(a[nonzero] * np.log2(a[nonzero] / m[nonzero])))
    return (kl(p) + kl(q)) / 2


def quantile_js_divergence(reference: np.ndarray, values: np.ndarray, buckets: int = 10) -> float:
    """JSD of values against reference over the reference's quantile buckets."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, buckets + 1)[1:-1]))
    def histogram(data):   # right-closed buckets; ties at an edge fall into one bucket
        return np.bincount(np.searchsorted(edges, data, side='left'), minlength=len(edges) + 1)
    return js_divergence(histogram(reference) + 1e-9, histogram(values) + 1e-9)


def _numeric_comparators(schema: schema_pb2.Schema, kind: str) -> Dict[str, float]:
    """Numeric feature -> Jensen-Shannon threshold of its skew or drift comparator."""
    return {f.name: getattr(f, kind).jensen_shannon_divergence.threshold for f in schema.feature
            if f.type in (schema_pb2.INT, schema_pb2.FLOAT)
            and getattr(f, kind).HasField('jensen_shannon_divergence')}


def _without_numeric_jsd(schema: schema_pb2.Schema) -> schema_pb2.Schema:
    trimmed = schema_pb2.Schema()
    trimmed.CopyFrom(schema)
    for feature in trimmed.feature:
        for kind in ('skew_comparator', 'drift_comparator'):
            getattr(feature, kind).ClearField('jensen_shannon_divergence')
    return trimmed


def _for_traffic(schema: schema_pb2.Schema) -> schema_pb2.Schema:
    """The schema for samples of served traffic: the training data's least number of
    examples (dataset_constraints) says nothing about how many requests were sampled."""
    trimmed = schema_pb2.Schema()
    trimmed.CopyFrom(schema)
    trimmed.ClearField('dataset_constraints')
    return trimmed


def _numeric_anomalies(comparators: Dict[str, float], reference, current, what: str):
    result = {}
    for name, threshold in comparators.items():
        ref, cur = reference(name), feature_values(current, name)
        if len(ref) and len(cur):
            divergence = quantile_js_divergence(ref, cur)
            if divergence > threshold:
                result[name] = (f'COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH: {what} '
                                f'Jensen-Shannon divergence {divergence:.3f} over quantile '
                                f'buckets, above the threshold {threshold}')
    return result


def _training_values(training: statistics_pb2.DatasetFeatureStatisticsList):
    """A stand-in sample of each numeric training feature: its quantile histogram's
    bucket bounds, repeated by their counts (all that statistics keep of the values)."""
    features = {f.path.step[0] if f.path.step else f.name: f for f in training.datasets[0].features}

    def values(name):
        feature = features.get(name)
        if feature is None or not feature.HasField('num_stats'):
            return np.empty(0)
        for histogram in feature.num_stats.histograms:
            if histogram.type == statistics_pb2.Histogram.QUANTILES:
                return np.concatenate([np.linspace(b.low_value, b.high_value, max(int(b.sample_count), 1))
                                       for b in histogram.buckets])
        return np.empty(0)
    return values


def check_data(training: statistics_pb2.DatasetFeatureStatisticsList, schema: schema_pb2.Schema,
               windows: Sequence[Sequence[bytes]], min_window: int = 1000) -> Dict[str, Dict]:
    """Skew (all traffic vs training), drift (window after window), SERVING-data anomalies.

    Drift needs windows of min_window examples: between smaller ones, sampling noise
    alone exceeds the comparators' thresholds (company, ~60 values, moved by 0.11
    L-infinity between two halves of 600 in-distribution examples)."""
    import tensorflow_data_validation as tfdv
    served = [e for window in windows for e in window]
    traffic = statistics_of(served)
    categorical = _without_numeric_jsd(schema)
    result = {
        'skew': {**_anomalies(tfdv.validate_statistics(training, categorical,
                                                       serving_statistics=traffic)),
                 **_numeric_anomalies(_numeric_comparators(schema, 'skew_comparator'),
                                      _training_values(training), served,
                                      'training-serving')},
        'data': _anomalies(tfdv.validate_statistics(traffic, _for_traffic(schema),
                                                    environment='SERVING')),
        'drift': {},
    }
    if any(len(window) < min_window for window in windows):
        result['drift_skipped'] = f'windows under {min_window} examples'
        return result
    previous_examples, previous = None, None
    for index, window in enumerate(windows):
        current = statistics_of(window)
        if previous is not None:
            drift = _anomalies(tfdv.validate_statistics(current, _for_traffic(categorical),
                                                        environment='SERVING',
                                                        previous_statistics=previous))
            drift = {k: v for k, v in drift.items() if 'DRIFT' in v or 'L_INFTY' in v}
            drift.update(_numeric_anomalies(
                _numeric_comparators(schema, 'drift_comparator'),
                lambda name, examples=previous_examples: feature_values(examples, name),
                window, 'window-to-window'))
            if drift:
                result['drift'][f'window {index} vs {index - 1}'] = drift
        previous_examples, previous = window, current
    return result


def statistics_drift(previous: statistics_pb2.DatasetFeatureStatisticsList,
                     current: statistics_pb2.DatasetFeatureStatisticsList,
                     schema: schema_pb2.Schema) -> Dict[str, str]:
    """Drift from one dataset's statistics to another's (two runs' training splits),
    with the schema's drift comparators: L-infinity through TFDV for categorical
    features, Jensen-Shannon over quantile buckets for numeric ones."""
    import tensorflow_data_validation as tfdv
    found = {feature: text for feature, text in _anomalies(tfdv.validate_statistics(
        current, _without_numeric_jsd(schema), previous_statistics=previous)).items()
        if 'DRIFT' in text or 'L_INFTY' in text}
    before, after = _training_values(previous), _training_values(current)
    for name, threshold in _numeric_comparators(schema, 'drift_comparator').items():
        reference, values = before(name), after(name)
        if len(reference) and len(values):
            divergence = quantile_js_divergence(reference, values)
            if divergence > threshold:
                found[name] = (f'COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH: Jensen-Shannon '
                               f'divergence {divergence:.3f} over quantile buckets, above the '
                               f'threshold {threshold}')
    return found


# --- The server's metrics ------------------------------------------------------------------

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


# --- Inputs from the pipeline's ML Metadata --------------------------------------------------

def training_inputs(record: mlmd.RunRecord):
    """(training split statistics, curated schema) of a run: traffic is compared with
    the data the model in service was trained on."""
    import tensorflow_data_validation as tfdv
    training = tfdv.load_stats_binary(
        os.path.join(record.statistics.uri, 'Split-train', 'FeatureStats.pb'))
    return training, tfdv.load_schema_text(os.path.join(record.schema.uri, 'schema.pbtxt'))


def split_windows(examples: Sequence[Tuple[int, bytes]], count: int) -> List[List[bytes]]:
    """count windows of consecutive served examples, of (nearly) equal size."""
    size = -(-len(examples) // count) if examples else 1
    return [[e for _, e in examples[i:i + size]] for i in range(0, len(examples), size)]


def write_report(report: Dict, directory: str) -> str:
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, time.strftime('report-%Y%m%d-%H%M%S.json'))
    text = json.dumps(report, indent=2, sort_keys=True)
    for target in (path, os.path.join(directory, 'latest.json')):
        with open(target, 'w') as f:
            f.write(text + '\n')
    return path


def request_log_paths(location: str) -> List[str]:
    """TFRecord files of a request log: a directory, a filename prefix or a glob."""
    if os.path.isdir(location):
        return glob.glob(os.path.join(location, '*.tfrecord'))
    return glob.glob(location) or glob.glob(location + '-*.tfrecord')
