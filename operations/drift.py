"""Skew and drift with the curated schema's comparators and thresholds:
L-infinity distance for categorical features (TFDV), Jensen-Shannon divergence
for numeric ones (here).

Numeric Jensen-Shannon divergence is taken over the reference's quantile
buckets (deciles), not TFDV's equal-width histograms: on fares and miles,
whose maxima are outliers hundreds of times the median, equal-width buckets put
nearly everything in the first bucket, and TFDV reported JSD 0.3-0.8 between
two samples of the same data (threshold 0.1).
"""

from typing import Any, Callable, Dict, Sequence

import numpy as np
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from operations.traffic import feature_values, statistics_of

Values = Callable[[str], np.ndarray]     # a numeric feature's values, by feature name


def _anomalies(result: anomalies_pb2.Anomalies) -> Dict[str, str]:
    return {feature: '; '.join(f'{anomalies_pb2.AnomalyInfo.Type.Name(r.type)}: {r.description}'
                               for r in info.reason)
            for feature, info in sorted(result.anomaly_info.items())}


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence of two distributions, base 2 (0 same, 1 disjoint)."""
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        nonzero = a > 0
        return float(np.sum(a[nonzero] * np.log2(a[nonzero] / m[nonzero])))
    return (kl(p) + kl(q)) / 2


def quantile_js_divergence(reference: np.ndarray, values: np.ndarray, buckets: int = 10) -> float:
    """JSD of values against reference over the reference's quantile buckets."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, buckets + 1)[1:-1]))

    def histogram(data: np.ndarray) -> np.ndarray:
        # Right-closed buckets; ties at an edge fall into one bucket.
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


def numeric_divergences(comparators: Dict[str, float], reference: Values, current: Values,
                        what: str = '') -> Dict[str, str]:
    """Numeric features whose Jensen-Shannon divergence from reference to current
    is above their comparator's threshold, with what was compared ('what ...')."""
    found = {}
    for name, threshold in comparators.items():
        before, after = reference(name), current(name)
        if len(before) and len(after):
            divergence = quantile_js_divergence(before, after)
            if divergence > threshold:
                found[name] = (f'COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH: '
                               f'{what + " " if what else ""}Jensen-Shannon divergence '
                               f'{divergence:.3f} over quantile buckets, above the threshold '
                               f'{threshold}')
    return found


def training_values(training: statistics_pb2.DatasetFeatureStatisticsList) -> Values:
    """A stand-in sample of each numeric training feature: its quantile histogram's
    bucket bounds, repeated by their counts (all that statistics keep of the values)."""
    features = {f.path.step[0] if f.path.step else f.name: f for f in training.datasets[0].features}

    def values(name: str) -> np.ndarray:
        feature = features.get(name)
        if feature is None or not feature.HasField('num_stats'):
            return np.empty(0)
        for histogram in feature.num_stats.histograms:
            if histogram.type == statistics_pb2.Histogram.QUANTILES:
                return np.concatenate([np.linspace(b.low_value, b.high_value,
                                                   max(int(b.sample_count), 1))
                                       for b in histogram.buckets])
        return np.empty(0)
    return values


def _served(examples: Sequence[bytes]) -> Values:
    return lambda name: feature_values(examples, name)


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
    result: Dict[str, Any] = {
        'skew': {**_anomalies(tfdv.validate_statistics(training, categorical,
                                                       serving_statistics=traffic)),
                 **numeric_divergences(_numeric_comparators(schema, 'skew_comparator'),
                                       training_values(training), _served(served),
                                       'training-serving')},
        'data': _anomalies(tfdv.validate_statistics(traffic, _for_traffic(schema),
                                                    environment='SERVING')),
        'drift': {},
    }
    if any(len(window) < min_window for window in windows):
        result['drift_skipped'] = f'windows under {min_window} examples'
        return result
    statistics = [statistics_of(window) for window in windows]
    for index in range(1, len(windows)):
        before, after = windows[index - 1], windows[index]
        drift = {k: v for k, v in _anomalies(tfdv.validate_statistics(
            statistics[index], _for_traffic(categorical), environment='SERVING',
            previous_statistics=statistics[index - 1])).items()
            if 'DRIFT' in v or 'L_INFTY' in v}
        drift.update(numeric_divergences(_numeric_comparators(schema, 'drift_comparator'),
                                         _served(before), _served(after), 'window-to-window'))
        if drift:
            result['drift'][f'window {index} vs {index - 1}'] = drift
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
    found.update(numeric_divergences(_numeric_comparators(schema, 'drift_comparator'),
                                     training_values(previous), training_values(current)))
    return found
