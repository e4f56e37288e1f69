"""TFMA's slicing on whole batches, for the Evaluator's custom extractors
(pipeline/tfma_hooks.py).

TFMA 0.47 splits each batch of extracts into one extract per example (every raw
feature of every example becomes arrays of its own), finds each example's slice keys,
and feeds its metric combiners one example at a time: at 100x the taxi data that
splitting alone was ~40% of the Evaluator's worker time (py-spy). Here each batch is
cut instead into one extract per slice key found in it, holding the labels,
predictions and example weights of that slice's examples as ExampleRows, which the
one-pass combiner (pipeline/one_pass_metrics.py) folds in whole. The slice keys are
TFMA's: its slice-key DoFn runs once per distinct combination of slicing-feature
values in the batch, on the example that first has it.

Taken only where nothing else reads the extracts one by one: every combiner the
one-pass combiner, slices by feature keys and values (no SQL slices, cross slices,
minimum slice size, confidence intervals or query keys), no Keras metrics computed
from the model. Otherwise TFMA's extractors as they are. TFMA's Beam counters of
instances and slices per instance then count slice groups, not examples.
"""

from typing import Any, Dict, Iterator, List, Sequence, Tuple

import apache_beam as beam
import numpy as np
import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis import constants, types
from tensorflow_model_analysis.extractors import (
    extractor,
    slice_key_extractor,
    unbatch_extractor,
)
from tensorflow_model_analysis.metrics import metric_specs, metric_types
from tensorflow_model_analysis.slicer import slicer_lib as slicer
from tensorflow_model_analysis.utils import util

from pipeline.one_pass_metrics import ExampleRows, OnePassCombiner

_WITH_VALUES = (types.SparseTensorValue, types.RaggedTensorValue, tf.compat.v1.SparseTensorValue,
                tf.compat.v1.ragged.RaggedTensorValue)
_GROUPED = (constants.LABELS_KEY, constants.PREDICTIONS_KEY, constants.EXAMPLE_WEIGHTS_KEY)
_REPLACED_STAGES = (unbatch_extractor.UNBATCH_EXTRACTOR_STAGE_NAME,
                    slice_key_extractor.SLICE_KEY_EXTRACTOR_STAGE_NAME)


def only_one_pass_combiners(eval_config: tfma.EvalConfig) -> bool:
    """Whether every combiner TFMA would run is the one-pass combiner, which folds in a
    slice's rows whole (TFMA's own take one example per element: a renamed metric,
    other thresholds, class weights, sub keys), and no query key groups examples."""
    if any(spec.query_key for spec in eval_config.metrics_specs):
        return False
    computations = metric_specs.to_computations(eval_config.metrics_specs,
                                                eval_config=eval_config)
    return all(isinstance(computation.combiner, OnePassCombiner)
               for computation in computations
               if isinstance(computation, metric_types.MetricComputation))


def per_slice_results_only(eval_config: tfma.EvalConfig) -> bool:
    """Whether nothing counts or resamples the examples one by one: no minimum slice
    size (TFMA counts a slice's extracts), no confidence intervals (it resamples
    extracts), no cross slices, and slices by feature keys and values only."""
    return (not eval_config.cross_slicing_specs
            and not eval_config.options.HasField('min_slice_size')
            and not eval_config.options.compute_confidence_intervals.value
            and not any(spec.slice_keys_sql for spec in eval_config.slicing_specs))


def without_model_metrics(eval_shared_models: Sequence[Any]) -> bool:
    """Whether TFMA computes no metrics from a Keras model's own compiled metrics
    (those combiners take one example at a time)."""
    return not any(model.include_default_metrics and model.model_type == constants.TF_KERAS
                   for model in eval_shared_models)


def slice_specs(eval_config: tfma.EvalConfig) -> List[slicer.SingleSliceSpec]:
    """TFMA's slice specs for the config (the overall slice when it has none)."""
    return ([slicer.SingleSliceSpec(spec=spec) for spec in eval_config.slicing_specs]
            or [slicer.SingleSliceSpec()])


def slicing_columns(eval_config: tfma.EvalConfig) -> List[str]:
    """The features that slice keys are made of."""
    return sorted({column for spec in eval_config.slicing_specs
                   for column in list(spec.feature_keys) + list(spec.feature_values)})


def rows(value: Any, index: np.ndarray) -> Any:
    """The rows of a batched extract value (nested by model and output names) at index."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {key: rows(inner, index) for key, inner in value.items()}
    if not isinstance(value, np.ndarray):
        raise ValueError('batched slicing takes labels, predictions and example weights '
                         f'as arrays with a row per example; got {type(value).__name__}')
    return value[index].view(ExampleRows)


def _flat_values(value: Any) -> Tuple:
    """A feature's values as TFMA's slice accessor reads them (sparse and ragged
    values by their values alone), as a tuple."""
    if isinstance(value, _WITH_VALUES):
        value = value.values
    return tuple(np.asarray(value).ravel().tolist())


def _hashable(values: Any) -> Tuple:
    """An example's slicing-column values (nested by features group and model name),
    comparable across examples."""
    if isinstance(values, dict):
        return tuple((key, _hashable(values[key])) for key in sorted(values))
    return _flat_values(values)


class SliceGroupsFn(beam.DoFn):
    """A batch of extracts in, one extract per slice key found in it out."""

    def __init__(self, eval_config: tfma.EvalConfig):
        self._columns = slicing_columns(eval_config)
        self._specs = slice_specs(eval_config)
        self._slice_keys = slice_key_extractor.ExtractSliceKeysFn(eval_config, materialize=False)
        # With several models, TFMA keys transformed features by model name.
        self._model_names = ([spec.name for spec in eval_config.model_specs]
                             if len(eval_config.model_specs) > 1 else [])

    def _columns_of(self, features: Any) -> Dict[str, Any]:
        if not isinstance(features, dict):
            return {}
        return {name: features[name] for name in self._columns if name in features}

    def _slicing_values(self, batch: Dict[str, Any]) -> List[Dict[str, Any]]:
        """Each example's slicing-feature values, raw and transformed (per model when
        there are several), split as TFMA's unbatching splits them."""
        transformed = batch.get(constants.TRANSFORMED_FEATURES_KEY)
        wanted = {constants.FEATURES_KEY: self._columns_of(batch.get(constants.FEATURES_KEY)),
                  constants.TRANSFORMED_FEATURES_KEY: (
                      {name: self._columns_of(transformed.get(name))
                       for name in self._model_names}
                      if self._model_names and isinstance(transformed, dict)
                      else self._columns_of(transformed))}
        return util.split_extracts(wanted)

    def _examples_per_slice(self, batch: Dict[str, Any],
                            size: int) -> Dict[Any, List[int]]:
        """Slice key: the indices of its examples, TFMA's keys computed once per
        distinct combination of slicing values."""
        if not self._columns:
            return {(): list(range(size))}
        combinations: Dict[Tuple, List[int]] = {}
        examples = self._slicing_values(batch) or [{} for _ in range(size)]
        for index, example in enumerate(examples):
            combinations.setdefault(_hashable(example), []).append(index)
        per_slice: Dict[Any, List[int]] = {}
        for indices in combinations.values():
            [keyed] = self._slice_keys.process(examples[indices[0]], self._specs)
            for slice_key in keyed[constants.SLICE_KEY_TYPES_KEY]:
                per_slice.setdefault(slice_key, []).extend(indices)
        return per_slice

    def process(self, batch: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
        size = _batch_size(batch)
        for slice_key, indices in self._examples_per_slice(batch, size).items():
            index = np.sort(np.asarray(indices, dtype=np.int64))
            grouped = {key: rows(batch[key], index) for key in _GROUPED if key in batch}
            grouped[constants.SLICE_KEY_TYPES_KEY] = slicer.slice_keys_to_numpy_array(
                [slice_key])
            yield grouped


def _batch_size(batch: Dict[str, Any]) -> int:
    """How many examples a batched extract holds (by its inputs, labels, predictions)."""
    size = util.batch_size({key: batch.get(key) for key in (
        constants.INPUT_KEY, constants.LABELS_KEY, constants.PREDICTIONS_KEY)})
    if size is None:
        raise ValueError('batched slicing needs the inputs, labels or predictions of a batch')
    return size


def slice_groups_extractor(eval_config: tfma.EvalConfig) -> extractor.Extractor:
    """TFMA's unbatching and slice-key extractors in one, keeping batches whole per
    slice. Named as TFMA's slice-key stage, after which its evaluator runs."""
    return extractor.Extractor(
        stage_name=slice_key_extractor.SLICE_KEY_EXTRACTOR_STAGE_NAME,
        ptransform=beam.ParDo(SliceGroupsFn(eval_config)))


def with_batched_slicing(extractors: List[extractor.Extractor], eval_config: tfma.EvalConfig,
                         eval_shared_models: Sequence[Any]) -> List[extractor.Extractor]:
    """TFMA's extractors with unbatching and slice keys replaced by slice groups, where
    that gives the same results (see the module's docstring); else as they are."""
    if not (only_one_pass_combiners(eval_config) and per_slice_results_only(eval_config)
            and without_model_metrics(eval_shared_models)):
        return extractors
    return ([stage for stage in extractors if stage.stage_name not in _REPLACED_STAGES]
            + [slice_groups_extractor(eval_config)])
