"""Slicing whole batches (pipeline/batched_slicing.py) against TFMA's own unbatching and
slice keys, and the one-pass combiner on a slice's rows against TFMA's combiners."""

import numpy as np
import pytest

import common.bootstrap  # noqa: F401  (first: the environment before TensorFlow loads)

SIZE = 400


MODELS = ('candidate', 'baseline')


def _batch(rng, models=()):
    """A batched extract as TFMA's batched extractors leave it: raw features (one
    varying in length and sometimes missing, one sparse), transformed features,
    labels, predictions, serialized inputs; per model name when there are models."""
    from tensorflow_model_analysis import constants, types
    hours = rng.integers(0, 4, SIZE)
    payments = np.array([[b'Cash'], [b'Credit Card'], [b'Mobile']], dtype=object)[
        rng.integers(0, 3, SIZE)]
    with_company = np.flatnonzero(np.arange(SIZE) % 7)
    company = types.VarLenTensorValue(          # some rows without a value
        values=np.array([b'Flash Cab', b'Blue Diamond'], dtype=object)[with_company % 2],
        indices=np.stack([with_company, np.zeros_like(with_company)], axis=1),
        dense_shape=np.array([SIZE, 1]))
    with_area = np.flatnonzero(np.arange(SIZE) % 3)
    area = types.SparseTensorValue(
        values=(with_area % 5).astype(np.int64),
        indices=np.stack([with_area, np.zeros_like(with_area)], axis=1),
        dense_shape=np.array([SIZE, 1]))
    transformed = {'hour_bucket': (hours // 2).reshape(-1, 1),       # transformed only
                   'trip_start_hour': (hours % 2).reshape(-1, 1)}   # shadows the raw one

    def per_model(make):
        return {name: make() for name in models} if models else make()
    return {
        constants.FEATURES_KEY: {'trip_start_hour': hours.reshape(-1, 1),
                                 'payment_type': payments,
                                 'company': company,
                                 'dropoff_community_area': area,
                                 'fare': rng.random((SIZE, 1)).astype(np.float32)},
        constants.TRANSFORMED_FEATURES_KEY: per_model(lambda: transformed),
        constants.INPUT_KEY: np.array([b'example'] * SIZE, dtype=object),
        constants.LABELS_KEY: per_model(lambda: rng.integers(0, 2, SIZE)),
        constants.PREDICTIONS_KEY: per_model(lambda: rng.random((SIZE, 1)).astype(np.float32)),
    }


def _config(feature_keys, models=()):
    import tensorflow_model_analysis as tfma
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(name=name, label_key='tips_xf', is_baseline=name == 'baseline')
                     for name in models] or [tfma.ModelSpec(label_key='tips_xf')],
        slicing_specs=[tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=[key])
                                              for key in feature_keys]
        + [tfma.SlicingSpec(feature_keys=['trip_start_hour'],
                            feature_values={'payment_type': 'Cash'})])


def _tfma_slices(batch, config):
    """{slice key: indices of its examples} by TFMA's unbatching and slice-key DoFn."""
    from tensorflow_model_analysis import constants
    from tensorflow_model_analysis.extractors import slice_key_extractor, unbatch_extractor
    from tensorflow_model_analysis.slicer import slicer_lib
    specs = [slicer_lib.SingleSliceSpec(spec=spec) for spec in config.slicing_specs]
    examples = unbatch_extractor._extract_unbatched_inputs(batch)  # pylint: disable=protected-access
    keys_of = slice_key_extractor.ExtractSliceKeysFn(config, materialize=False)
    found = {}
    for index, example in enumerate(examples):
        [keyed] = keys_of.process(example, specs)
        for slice_key in keyed[constants.SLICE_KEY_TYPES_KEY]:
            found.setdefault(slice_key, []).append(index)
    return found


def _leaves(value):
    return [value] if not isinstance(value, dict) else [
        leaf for key in sorted(value) for leaf in _leaves(value[key])]


@pytest.mark.parametrize('models', [(), MODELS], ids=['one-model', 'candidate-and-baseline'])
@pytest.mark.parametrize('feature_keys', [
    (), ('trip_start_hour', 'payment_type', 'company', 'dropoff_community_area', 'hour_bucket')],
    ids=['overall', 'features'])
def test_slice_groups_hold_the_examples_tfma_puts_in_each_slice(feature_keys, models):
    """Raw, transformed (also per model), varying-length and sparse slicing features:
    each slice group holds the rows of the examples TFMA gives that slice key."""
    from tensorflow_model_analysis import constants

    from pipeline.batched_slicing import SliceGroupsFn
    from pipeline.one_pass_metrics import ExampleRows
    batch = _batch(np.random.default_rng(0), models)
    config = _config(feature_keys, models)
    expected = _tfma_slices(batch, config)
    found = {}
    for group in SliceGroupsFn(config).process(batch):
        [slice_key] = group[constants.SLICE_KEY_TYPES_KEY]
        index = expected[slice_key]
        for key in (constants.LABELS_KEY, constants.PREDICTIONS_KEY):
            for ours, batched in zip(_leaves(group[key]), _leaves(batch[key]), strict=True):
                assert isinstance(ours, ExampleRows)
                assert ours.tolist() == batched[index].tolist()
        found[slice_key] = len(_leaves(group[constants.LABELS_KEY])[0])
    assert found == {key: len(indices) for key, indices in expected.items()}
    assert len(found) > (1 if not feature_keys else 12)


def _stock_outputs(config, elements, weighted):
    """The histogram, matrices, sums and count from TFMA's own per-example combiners."""
    from tensorflow_model_analysis.metrics import metric_specs, metric_types

    from pipeline.one_pass_metrics import OnePassKeys
    computations = metric_specs.to_computations(config.metrics_specs, config)
    keys = OnePassKeys.of(config, '', '', weighted)
    outputs = {}
    for computation in computations:
        if isinstance(computation, metric_types.MetricComputation) \
                and set(computation.keys) & set(keys):
            combiner = computation.combiner
            accumulator = combiner.create_accumulator()
            for element in elements:
                accumulator = combiner.add_input(accumulator, element)
            outputs.update(combiner.extract_output(accumulator))
    return {key: outputs[key] for key in keys}


def _weighted_config(stock: bool):
    import tensorflow_model_analysis as tfma

    from pipeline.one_pass_metrics import one_pass_metrics
    metrics = [tfma.MetricConfig(class_name=name) for name in (
        'AUC', 'Precision', 'Calibration', 'ExampleCount')]
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(label_key='label', example_weight_key='weight')],
        metrics_specs=[tfma.MetricsSpec(
            metrics=metrics if stock else one_pass_metrics(metrics),
            example_weights=tfma.ExampleWeightOptions(weighted=True))])


def test_rows_of_weighted_fractional_labels_fold_in_as_tfma_folds_examples():
    """Fractional labels and example weights, one example at a time through TFMA's
    combiners and a slice's rows at a time through the one-pass combiner: the same
    histogram, confusion counts, sums and count."""
    from tensorflow_model_analysis.metrics import metric_types

    from pipeline.one_pass_metrics import ExampleRows, OnePassCombiner, OnePassKeys
    rng = np.random.default_rng(1)
    labels = np.round(rng.random(1000), 1)
    predictions = rng.random(1000).astype(np.float32)
    weights = rng.choice([0.0, 0.5, 1.0, 2.5], 1000)
    singles = [metric_types.StandardMetricInputs(
        labels=np.array([label]), predictions=np.array([prediction]),
        example_weights=np.array([weight]))
        for label, prediction, weight in zip(labels, predictions, weights, strict=True)]
    stock = _stock_outputs(_weighted_config(stock=True), singles, weighted=True)

    config = _weighted_config(stock=False)
    combiner = OnePassCombiner(OnePassKeys.of(config, '', '', True), config, True)
    accumulators = []
    for start, stop in ((0, 1), (1, 300), (300, 1000)):
        accumulator = combiner.create_accumulator()
        accumulators.append(combiner.add_input(accumulator, metric_types.StandardMetricInputs(
            labels=labels[start:stop].view(ExampleRows),
            predictions=predictions[start:stop].reshape(-1, 1).view(ExampleRows),
            example_weights=weights[start:stop].view(ExampleRows))))
    ours = combiner.extract_output(combiner.merge_accumulators(accumulators))

    keys = OnePassKeys.of(config, '', '', True)
    assert ours[keys.example_count] == pytest.approx(stock[keys.example_count])
    np.testing.assert_allclose([_fields(bucket) for bucket in ours[keys.histogram]],
                               [_fields(bucket) for bucket in stock[keys.histogram]],
                               rtol=1e-12)
    [(threshold, entry)] = ours[keys.matrices].items()
    assert entry.matrix == pytest.approx(stock[keys.matrices][threshold].matrix)
    for field in ('total_weighted_labels', 'total_weighted_predictions',
                  'total_weighted_examples'):
        assert getattr(ours[keys.sums], field) == pytest.approx(
            getattr(stock[keys.sums], field))


def _fields(bucket):
    return (bucket.bucket_id, bucket.weighted_labels, bucket.weighted_predictions,
            bucket.weighted_examples)


def test_rows_with_a_label_outside_zero_one_are_refused():
    from tensorflow_model_analysis.metrics import metric_types

    from pipeline.one_pass_metrics import ExampleRows, OnePassCombiner, OnePassKeys
    config = _weighted_config(stock=False)
    combiner = OnePassCombiner(OnePassKeys.of(config, '', '', False), config, False)
    element = metric_types.StandardMetricInputs(
        labels=np.array([0.0, 1.0, 3.0]).view(ExampleRows),
        predictions=np.array([[0.1], [0.2], [0.3]]).view(ExampleRows))
    with pytest.raises(ValueError, match=r'label must be within \[0, 1\]: label=3.0, '
                                         r'prediction=0.3'):
        combiner.add_input(combiner.create_accumulator(), element)


def test_only_configs_whose_results_are_unchanged_slice_whole_batches():
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.extractors import slice_key_extractor, unbatch_extractor

    from pipeline.batched_slicing import with_batched_slicing
    from pipeline.evaluation import eval_config
    stock = [tfma.extractors.Extractor(stage_name=name, ptransform=None) for name in (
        'ExtractPredictions', unbatch_extractor.UNBATCH_EXTRACTOR_STAGE_NAME,
        slice_key_extractor.SLICE_KEY_EXTRACTOR_STAGE_NAME)]
    ours = eval_config(0.5, 0.1)
    replaced = with_batched_slicing(stock, ours, [])
    assert [stage.stage_name for stage in replaced] == [
        'ExtractPredictions', slice_key_extractor.SLICE_KEY_EXTRACTOR_STAGE_NAME]
    assert replaced[-1] is not stock[-1]

    with_stock_metric = tfma.EvalConfig()
    with_stock_metric.CopyFrom(ours)
    with_stock_metric.metrics_specs[0].metrics.add(class_name='MeanLabel')
    with_minimum = tfma.EvalConfig()
    with_minimum.CopyFrom(ours)
    with_minimum.options.min_slice_size.value = 10
    with_sql = tfma.EvalConfig()
    with_sql.CopyFrom(ours)
    with_sql.slicing_specs.add(slice_keys_sql='SELECT STRUCT(payment_type) FROM example')
    with_intervals = tfma.EvalConfig()
    with_intervals.CopyFrom(ours)
    with_intervals.options.compute_confidence_intervals.value = True
    renamed = tfma.EvalConfig()             # a one-pass class whose key TFMA's combiner keeps
    renamed.CopyFrom(ours)
    renamed.metrics_specs[0].metrics.add(class_name='OnePassExampleCount',
                                         module=ours.metrics_specs[0].metrics[0].module,
                                         config='{"name": "rows"}')
    for config in (with_stock_metric, with_minimum, with_sql, with_intervals, renamed):
        assert with_batched_slicing(stock, config, []) is stock
