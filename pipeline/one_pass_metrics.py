"""The Evaluator's metrics in one pass: TFMA's own metric classes, their per-example
combiners replaced by one vectorised combiner per model, output and slice.

TFMA 0.47 computes AUC, AUC-PR, the confusion-matrix and calibration plots from one
calibration histogram (10,000 buckets), precision, recall and accuracy from confusion
counts at 0.5, calibration from weighted sums, and the example count: four Python
combiners, each unpacking every example again (metric_util.to_label_prediction_
example_weight, ~90% of the Evaluator's time at scale). Here each metric is TFMA's
class with the same name, config, keys and derived computations (so the values,
plots, thresholds and diffs against the baseline are TFMA's), except that the inputs
of those derivations come from OnePassCombiner: it reads each example once, keeps
its label, prediction and weight, and folds them into the histogram, counts and sums
with numpy a few thousand at a time. Equal computations are de-duplicated by TFMA,
so every metric here shares one combiner.

Binary classification only (one label in [0, 1] and one prediction per example):
anything else is an error naming the input. Metrics with class weights, sub keys or
aggregation keep TFMA's own combiners.
"""

from collections.abc import Mapping
from typing import Any, Dict, Iterable, List, NamedTuple

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.contrib.aggregates import binary_confusion_matrices as bcm
from tensorflow_model_analysis.metrics import (
    binary_confusion_matrices,
    calibration,
    calibration_histogram,
    calibration_plot,
    confusion_matrix_metrics,
    confusion_matrix_plot,
    example_count,
    metric_types,
    metric_util,
)
from tensorflow_model_analysis.utils import util

MODULE = __name__
THRESHOLD = 0.5                       # precision, recall and accuracy (TFMA's default)
_PENDING = 4096                       # examples kept before they are folded in
_REPLACED = (calibration_histogram._CalibrationHistogramCombiner,      # pylint: disable=protected-access
             binary_confusion_matrices._BinaryConfusionMatrixCombiner,  # pylint: disable=protected-access
             calibration._WeightedLabelsPredictionsExamplesCombiner,    # pylint: disable=protected-access
             example_count._ExampleCountCombiner)                       # pylint: disable=protected-access


class ExampleRows(np.ndarray):
    """An extract value with a row per example: the examples of one slice of a batch
    in one extract (pipeline/batched_slicing.py), folded in whole."""


class OnePassKeys(NamedTuple):
    """The keys under which TFMA's derived computations look for their inputs."""
    histogram: metric_types.PlotKey
    matrices: metric_types.MetricKey
    sums: metric_types.MetricKey
    example_count: metric_types.MetricKey

    @classmethod
    def of(cls, eval_config, model_name: str, output_name: str,
           example_weighted: bool) -> 'OnePassKeys':
        """Asks TFMA's own constructors for the keys, so that the names match."""
        common = dict(eval_config=eval_config, model_name=model_name, output_name=output_name,
                      example_weighted=example_weighted)
        return cls(
            histogram=calibration_histogram.calibration_histogram(**common)[0].keys[0],
            matrices=binary_confusion_matrices.binary_confusion_matrices(
                thresholds=[THRESHOLD], **common)[0].keys[0],
            sums=calibration._weighted_labels_predictions_examples(  # pylint: disable=protected-access
                **common)[0].keys[0],
            example_count=metric_types.MetricKey(
                name=example_count.EXAMPLE_COUNT_NAME, model_name=model_name,
                output_name=output_name, example_weighted=example_weighted))


class _Accumulator:
    """Examples not folded in yet, and the histogram, counts and sums of those that are."""

    __slots__ = ('labels', 'predictions', 'weights', 'bucket_ids', 'buckets', 'matrix', 'sums',
                 'count')

    def __init__(self):
        self.labels, self.predictions, self.weights = [], [], []
        self.bucket_ids = np.zeros(0, dtype=np.int64)
        self.buckets = np.zeros((4, 0))     # weighted labels, predictions, examples; entries
        self.matrix = np.zeros(4)           # tp, tn, fp, fn at THRESHOLD
        self.sums = np.zeros(3)             # weighted labels, predictions, examples
        self.count = 0.0


def _sparse_sum(ids: np.ndarray, values: np.ndarray):
    """(sorted unique ids, values summed per id along the last axis)."""
    unique, where = np.unique(ids, return_inverse=True)
    summed = np.zeros((values.shape[0], len(unique)))
    for row in range(values.shape[0]):
        summed[row] = np.bincount(where, weights=values[row], minlength=len(unique))
    return unique, summed


class OnePassCombiner(beam.CombineFn):
    """TFMA's calibration histogram, confusion counts at 0.5, weighted sums and example
    count of one model and output, from one look at each example."""

    def __init__(self, keys: OnePassKeys, eval_config, example_weighted: bool,
                 num_buckets: int = calibration_histogram.DEFAULT_NUM_BUCKETS):
        self._keys, self._eval_config = keys, eval_config
        self._example_weighted, self._num_buckets = example_weighted, num_buckets
        self._label_key = self._prediction_key = ''
        for spec in (eval_config.model_specs if eval_config else []):
            name = spec.name if len(eval_config.model_specs) > 1 else ''
            if name == keys.histogram.model_name:
                self._label_key, self._prediction_key = spec.label_key, spec.prediction_key

    def _values(self, element: metric_types.StandardMetricInputs):
        """(labels, predictions, weights) of the element's examples, found as TFMA's
        to_label_prediction_example_weight finds them for this model and output: one
        example, or a row each for ExampleRows (pipeline/batched_slicing.py)."""
        label, prediction, weight = element.label, element.prediction, element.example_weight
        if self._label_key:
            label = _lookup(label, self._label_key)
        for name in filter(None, (self._keys.histogram.model_name,
                                  self._keys.histogram.output_name)):
            if prediction is not None:
                prediction = util.get_by_keys(prediction, [name])
            label, weight = _lookup(label, name), _lookup(weight, name)
        if not self._example_weighted or weight is None:
            weight = 1.0
        if isinstance(label, ExampleRows):
            return _checked(*self._rows(label, prediction, weight))
        return _checked(*self._one_example(label, prediction, weight))

    def _one_example(self, label, prediction, weight):
        """One example's label, prediction and weight, each as a row of a 2-D array."""
        if not (isinstance(label, np.ndarray) and isinstance(prediction, np.ndarray)):
            label, prediction = metric_util.prepare_labels_and_predictions(
                label, prediction, self._prediction_key)
        return tuple(None if value is None else np.reshape(value, (1, -1))
                     for value in (label, prediction, weight))

    def _rows(self, label: np.ndarray, prediction, weight):
        """A slice's examples, a row each (a weight of 1.0 for all when unweighted);
        shapes left for _checked to judge."""
        examples = label.shape[0]
        if isinstance(prediction, Mapping):      # a signature's named outputs
            label, prediction = metric_util.prepare_labels_and_predictions(
                label, prediction, self._prediction_key)
        label = np.asarray(label).reshape(examples, -1)
        if prediction is not None:
            prediction = np.asarray(prediction)
            if prediction.ndim and prediction.shape[0] == examples:
                prediction = prediction.reshape(examples, -1)
        weight = np.asarray(weight, dtype=float)
        if weight.size == 1 or weight.shape == (examples,):
            weight = np.broadcast_to(weight.reshape(-1, 1), (examples, 1))
        return label, prediction, weight

    def create_accumulator(self) -> _Accumulator:
        return _Accumulator()

    def add_input(self, accumulator: _Accumulator, element) -> _Accumulator:
        labels, predictions, weights = self._values(element)
        accumulator.labels.extend(labels.tolist())
        accumulator.predictions.extend(predictions.tolist())
        accumulator.weights.extend(weights.tolist())
        if len(accumulator.labels) >= _PENDING:
            self._fold(accumulator)
        return accumulator

    def _bucket(self, predictions: np.ndarray) -> np.ndarray:
        """TFMA's histogram bucket: 0 below, num_buckets + 1 at or above, else truncated."""
        left, right = 0.0, 1.0
        index = (predictions - left) / (right - left) * self._num_buckets + 1
        return np.clip(index, 0, self._num_buckets + 1).astype(np.int64)

    def _fold(self, accumulator: _Accumulator) -> None:
        """Adds the pending examples to the histogram, counts and sums."""
        if not accumulator.labels:
            return
        labels, predictions, weights = (np.array(values) for values in (
            accumulator.labels, accumulator.predictions, accumulator.weights))
        accumulator.labels, accumulator.predictions, accumulator.weights = [], [], []
        accumulator.count += weights.sum()
        accumulator.sums += [(labels * weights).sum(), (predictions * weights).sum(),
                             weights.sum()]
        # Fractional labels, as TFMA splits them: (0, p, w(1 - l)) and (1, p, wl),
        # those of weight zero dropped.
        negative, positive = weights * (1.0 - labels), weights * labels
        tuple_labels = np.concatenate([np.zeros(np.count_nonzero(negative)),
                                       np.ones(np.count_nonzero(positive))])
        tuple_predictions = np.concatenate([predictions[negative != 0],
                                            predictions[positive != 0]])
        tuple_weights = np.concatenate([negative[negative != 0], positive[positive != 0]])
        above = tuple_predictions > THRESHOLD
        is_positive = tuple_labels == 1.0
        accumulator.matrix += [tuple_weights[is_positive & above].sum(),
                               tuple_weights[~is_positive & ~above].sum(),
                               tuple_weights[~is_positive & above].sum(),
                               tuple_weights[is_positive & ~above].sum()]
        ids = np.concatenate([accumulator.bucket_ids, self._bucket(tuple_predictions)])
        values = np.concatenate([accumulator.buckets, np.stack([
            tuple_labels * tuple_weights, tuple_predictions * tuple_weights, tuple_weights,
            np.ones(len(tuple_weights))])], axis=1)
        accumulator.bucket_ids, accumulator.buckets = _sparse_sum(ids, values)

    def compact(self, accumulator: _Accumulator) -> _Accumulator:
        self._fold(accumulator)
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[_Accumulator]) -> _Accumulator:
        result = _Accumulator()
        ids, values = [result.bucket_ids], [result.buckets]
        for accumulator in accumulators:
            self._fold(accumulator)
            ids.append(accumulator.bucket_ids)
            values.append(accumulator.buckets)
            result.matrix += accumulator.matrix
            result.sums += accumulator.sums
            result.count += accumulator.count
        result.bucket_ids, result.buckets = _sparse_sum(np.concatenate(ids),
                                                        np.concatenate(values, axis=1))
        return result

    def extract_output(self, accumulator: _Accumulator) -> Dict[metric_types.MetricKey, Any]:
        self._fold(accumulator)
        histogram = [calibration_histogram.Bucket(int(bucket_id), float(labels),
                                                  float(predictions), float(examples))
                     for bucket_id, (labels, predictions, examples, entries) in zip(
                         accumulator.bucket_ids, accumulator.buckets.T, strict=True)
                     if entries > 0]
        tp, tn, fp, fn = (float(value) for value in accumulator.matrix)
        matrices = {THRESHOLD: bcm._ThresholdEntry(   # pylint: disable=protected-access
            bcm.Matrix(tp=tp, tn=tn, fp=fp, fn=fn), [], [], [], [])}
        sums = calibration._WeightedLabelsPredictionsExamples()  # pylint: disable=protected-access
        (sums.total_weighted_labels, sums.total_weighted_predictions,
         sums.total_weighted_examples) = (float(value) for value in accumulator.sums)
        return {self._keys.histogram: histogram, self._keys.matrices: matrices,
                self._keys.sums: sums, self._keys.example_count: float(accumulator.count)}


def _checked(labels, predictions, weights):
    """Labels, predictions and weights as float vectors, one value per example each,
    labels within [0, 1] and no NaN prediction; else an error naming the example."""
    if labels is None or predictions is None or labels.shape[1:] != (1,) \
            or predictions.shape != labels.shape or weights.shape != labels.shape:
        raise ValueError('the one-pass metrics take one label, one prediction and one '
                         f'weight per example: label={labels}, prediction={predictions}, '
                         f'example_weight={weights}')
    labels, predictions, weights = (np.asarray(values, dtype=float).ravel()
                                    for values in (labels, predictions, weights))
    outside = np.flatnonzero((labels < 0.0) | (labels > 1.0) | np.isnan(labels))
    if outside.size:
        first = outside[0]
        raise ValueError(f'label must be within [0, 1]: label={labels[first]}, '
                         f'prediction={predictions[first]}, example_weight={weights[first]}')
    missing = np.flatnonzero(np.isnan(predictions))
    if missing.size:
        raise ValueError(f'prediction is NaN: label={labels[missing[0]]}')
    return labels, predictions, weights


def _lookup(value: Any, key: str) -> Any:
    """value[key] when value is a dict holding key, else value (TFMA's optional lookup)."""
    if isinstance(value, Mapping) and key in value:
        return value[key]
    return value


def one_pass(computations: metric_types.MetricComputations,
             eval_config) -> metric_types.MetricComputations:
    """The computations with TFMA's per-example combiners that the one-pass combiner
    covers replaced by it (one per model and output, shared through TFMA's de-dup)."""
    result = []
    for computation in computations:
        replacement = None
        if isinstance(computation, metric_types.MetricComputation) and \
                isinstance(computation.combiner, _REPLACED) and computation.keys:
            first = computation.keys[0]
            keys = OnePassKeys.of(eval_config, first.model_name, first.output_name,
                                  first.example_weighted)
            if set(computation.keys) <= set(keys):
                replacement = metric_types.MetricComputation(
                    keys=list(keys), preprocessors=None,
                    combiner=OnePassCombiner(keys, eval_config, first.example_weighted))
        result.append(replacement or computation)
    return result


class _OnePass:
    """Mixin: a TFMA metric whose combiners are replaced by the one-pass combiner
    (unless class weights, sub keys or aggregation ask for TFMA's own)."""

    def computations(self, eval_config=None, schema=None, model_names=None, output_names=None,
                     sub_keys=None, aggregation_type=None, class_weights=None,
                     example_weighted=False, query_key=None) -> metric_types.MetricComputations:
        # A mixin: the TFMA metric class after it in the bases has computations().
        computations = super().computations(  # type: ignore[misc]
            eval_config=eval_config, schema=schema, model_names=model_names,
            output_names=output_names, sub_keys=sub_keys, aggregation_type=aggregation_type,
            class_weights=class_weights, example_weighted=example_weighted,
            query_key=query_key)
        if class_weights or aggregation_type is not None or any(sub_keys or []):
            return computations
        return one_pass(computations, eval_config)


# TFMA resolves registered class names before modules: these need names of their own.
class OnePassAUC(_OnePass, confusion_matrix_metrics.AUC):
    """TFMA's AUC (key 'auc') from the one-pass combiner."""


class OnePassAUCPrecisionRecall(_OnePass, confusion_matrix_metrics.AUCPrecisionRecall):
    """TFMA's AUCPrecisionRecall (key 'auc_precision_recall') from the one-pass combiner."""


class OnePassPrecision(_OnePass, confusion_matrix_metrics.Precision):
    """TFMA's Precision at 0.5 (key 'precision') from the one-pass combiner."""


class OnePassRecall(_OnePass, confusion_matrix_metrics.Recall):
    """TFMA's Recall at 0.5 (key 'recall') from the one-pass combiner."""


class OnePassBinaryAccuracy(_OnePass, confusion_matrix_metrics.BinaryAccuracy):
    """TFMA's BinaryAccuracy at 0.5 (key 'binary_accuracy') from the one-pass combiner."""


class OnePassCalibration(_OnePass, calibration.Calibration):
    """TFMA's Calibration (key 'calibration') from the one-pass combiner."""


class OnePassExampleCount(_OnePass, example_count.ExampleCount):
    """TFMA's ExampleCount (key 'example_count') from the one-pass combiner."""


class OnePassConfusionMatrixPlot(_OnePass, confusion_matrix_plot.ConfusionMatrixPlot):
    """TFMA's ConfusionMatrixPlot from the one-pass combiner's histogram."""


class OnePassCalibrationPlot(_OnePass, calibration_plot.CalibrationPlot):
    """TFMA's CalibrationPlot from the one-pass combiner's histogram."""


ONE_PASS_CLASSES: Dict[str, str] = {   # TFMA's class name: its one-pass twin's
    'AUC': 'OnePassAUC', 'AUCPrecisionRecall': 'OnePassAUCPrecisionRecall',
    'Precision': 'OnePassPrecision', 'Recall': 'OnePassRecall',
    'BinaryAccuracy': 'OnePassBinaryAccuracy', 'Calibration': 'OnePassCalibration',
    'ExampleCount': 'OnePassExampleCount', 'ConfusionMatrixPlot': 'OnePassConfusionMatrixPlot',
    'CalibrationPlot': 'OnePassCalibrationPlot'}


def one_pass_config(metric_config):
    """A MetricConfig of one of TFMA's classes above as its one-pass twin (else as it is)."""
    twin = ONE_PASS_CLASSES.get(metric_config.class_name)
    if twin is None or metric_config.module:
        return metric_config
    result = type(metric_config)()
    result.CopyFrom(metric_config)
    result.class_name, result.module = twin, MODULE
    return result


def one_pass_metrics(metrics: List[Any]) -> List[Any]:
    """MetricConfigs with TFMA's classes swapped for their one-pass twins."""
    return [one_pass_config(metric) for metric in metrics]


__all__ = ['ExampleRows', 'OnePassKeys', 'one_pass', 'one_pass_metrics', 'ONE_PASS_CLASSES']
