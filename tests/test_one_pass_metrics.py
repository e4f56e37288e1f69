"""The one-pass Evaluator metrics against TFMA's own: TFX's Evaluator run with each
eval config on the same candidate, baseline and examples (the embedded data) gives
the same metrics, plots, diffs and blessing."""

import json
import os
import shutil

import numpy as np
import pytest

import common.bootstrap  # noqa: F401  (first: the environment before TensorFlow loads)
from pipeline.config import DEFAULT_DATA_ROOT

TOLERANCE = 1e-6
BEAM_ARGS = ['--direct_running_mode=in_memory', '--direct_num_workers=1']


def test_every_metric_of_the_evaluator_has_a_one_pass_twin():
    from pipeline.evaluation import eval_config
    from pipeline.one_pass_metrics import MODULE
    [spec] = eval_config(0.9, 0.01).metrics_specs
    assert {metric.module for metric in spec.metrics} == {MODULE}
    [auc] = [metric for metric in spec.metrics if metric.class_name == 'OnePassAUC']
    assert auc.per_slice_thresholds      # the gate moved with it


def test_tfx_finds_the_tfma_hooks_through_the_evaluators_properties():
    from tfx.components.util import udf_utils
    from tfx.types import Channel, standard_artifacts

    from pipeline import tfma_hooks
    from pipeline.evaluation import Evaluator, eval_config
    evaluator = Evaluator(examples=Channel(type=standard_artifacts.Examples),
                          model=Channel(type=standard_artifacts.Model),
                          eval_config=eval_config(0.9, 0.01))
    for hook in ('custom_extractors', 'custom_eval_shared_model'):
        assert udf_utils.try_get_fn(evaluator.exec_properties, hook) is getattr(tfma_hooks, hook)
    own = Evaluator(examples=Channel(type=standard_artifacts.Examples),
                    model=Channel(type=standard_artifacts.Model),
                    eval_config=eval_config(0.9, 0.01), module_file='/teams/evaluator_udfs.py')
    assert own.exec_properties['module_file'] == '/teams/evaluator_udfs.py'
    assert own.exec_properties['module_path'] is None


def test_the_gate_keys_are_tfma_metric_names():
    """Thresholds attach to metric names: 'auc' and its diff, as with TFMA's AUC."""
    import tensorflow_model_analysis as tfma

    from pipeline.evaluation import eval_config
    config = eval_config(0.9, 0.01)
    keys = tfma.metrics.metric_thresholds_from_metrics_specs(config.metrics_specs, config)
    assert {(key.name, key.is_diff) for key in keys} == {('auc', False), ('auc', True)}


def test_labels_outside_zero_one_are_refused():
    from tensorflow_model_analysis.metrics import metric_types

    from pipeline.evaluation import eval_config
    from pipeline.one_pass_metrics import OnePassCombiner, OnePassKeys
    config = eval_config(0.9, 0.01)
    combiner = OnePassCombiner(OnePassKeys.of(config, '', '', False), config, False)
    element = metric_types.StandardMetricInputs(labels=np.array([2]),
                                                predictions=np.array([0.5]))
    with pytest.raises(ValueError, match='label must be within'):
        combiner.add_input(combiner.create_accumulator(), element)


def test_one_combiner_per_model():
    """With a baseline, TFMA runs one combiner for the candidate and one for the
    baseline, and nothing else per example."""
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.metrics import metric_specs, metric_types

    from pipeline.evaluation import eval_config
    config = tfma.utils.update_eval_config_with_defaults(eval_config(0.9, 0.01),
                                                         has_baseline=True)
    computations = metric_specs.to_computations(config.metrics_specs, config)
    combiners = {computation for computation in computations
                 if isinstance(computation, metric_types.MetricComputation)}
    assert sorted((type(c.combiner).__name__, c.keys[0].model_name) for c in combiners) == [
        ('OnePassCombiner', 'baseline'), ('OnePassCombiner', 'candidate')]


def _examples_artifact(directory):
    """The embedded data as one 'eval' split of serialized Examples."""
    import tensorflow as tf
    from tfx.types import standard_artifacts

    from pipeline import csv_example_gen
    path = os.path.join(DEFAULT_DATA_ROOT, 'data.csv')
    names = csv_example_gen.column_names(path)
    types = csv_example_gen.file_column_types(path, names)
    os.makedirs(os.path.join(directory, 'Split-eval'))
    with tf.io.TFRecordWriter(os.path.join(directory, 'Split-eval', 'data.gz'), 'GZIP') as out:
        for block in csv_example_gen.file_examples(path, names, types):
            for example in block:
                out.write(example)
    examples = standard_artifacts.Examples()
    examples.uri = str(directory)
    examples.split_names = '["eval"]'
    return examples


def _model_artifact(export_dir, directory):
    from tfx.types import standard_artifacts
    shutil.copytree(export_dir, os.path.join(directory, 'Format-Serving'))
    model = standard_artifacts.Model()
    model.uri = str(directory)
    return model


@pytest.fixture(scope='module')
def models(exported_model, tft_result, tmp_path_factory):
    """(candidate, baseline) Model artifacts: the conftest model, and a copy of it
    with its weights disturbed by seeded noise (a worse model)."""
    import tensorflow_transform as tft
    import tf_keras as keras

    from models import trainer
    export_dir, model, _ = exported_model
    noisy = keras.models.clone_model(model)
    rng = np.random.default_rng(0)
    noisy.set_weights([w + rng.normal(0, 0.3 * (w.std() or 0.1), w.shape).astype(w.dtype)
                       for w in model.get_weights()])
    noisy_dir = str(tmp_path_factory.mktemp('noisy') / 'model')
    trainer.export(noisy, tft.TFTransformOutput(tft_result[0]), noisy_dir)
    base = tmp_path_factory.mktemp('models')
    return (_model_artifact(export_dir, base / 'candidate'),
            _model_artifact(noisy_dir, base / 'baseline'))


def run_evaluator(config, examples, candidate, baseline, output_dir, module_path=''):
    """TFX's Evaluator (this project's executor) as the pipeline runs it, with the
    module of TFMA hooks given (none: TFMA's extractors and models)."""
    from tfx.types import standard_artifacts
    from tfx.utils import proto_utils

    from pipeline.evaluation import Executor
    evaluation, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
    evaluation.uri, blessing.uri = str(output_dir / 'evaluation'), str(output_dir / 'blessing')
    os.makedirs(evaluation.uri)
    os.makedirs(blessing.uri)
    Executor(Executor.Context(beam_pipeline_args=BEAM_ARGS)).Do(
        {'examples': [examples], 'model': [candidate], 'baseline_model': [baseline]},
        {'evaluation': [evaluation], 'blessing': [blessing]},
        {'eval_config': proto_utils.proto_to_json(config), 'example_splits': '["eval"]',
         'module_path': module_path})
    return evaluation, blessing


def stock_config(config):
    """The same eval config with TFMA's own metric classes."""
    from pipeline.one_pass_metrics import MODULE, ONE_PASS_CLASSES
    stock = type(config)()
    stock.CopyFrom(config)
    names = {twin: name for name, twin in ONE_PASS_CLASSES.items()}
    for spec in stock.metrics_specs:
        for metric in spec.metrics:
            assert metric.module == MODULE
            metric.class_name, metric.module = names[metric.class_name], ''
    return stock


def _flatten(message):
    """A proto as {field path: leaf value}."""
    from google.protobuf import json_format
    leaves = {}

    def walk(value, path):
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f'{path}.{key}')
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f'{path}[{index}]')
        else:
            leaves[path] = value
    walk(json_format.MessageToDict(message), '')
    return leaves


def results(evaluation_uri):
    """{(slice, key): leaves} of the metrics and of the plots TFMA wrote."""
    import tensorflow_model_analysis as tfma
    found = {}
    for kind, records, values in (('metric', tfma.load_metrics(evaluation_uri),
                                   'metric_keys_and_values'),
                                  ('plot', tfma.load_plots(evaluation_uri),
                                   'plot_keys_and_values')):
        for record in records:
            for entry in getattr(record, values):
                found[(kind, str(record.slice_key), str(entry.key))] = _flatten(entry.value)
    return found


def assert_same(stock, ours):
    assert stock.keys() == ours.keys()
    for key, leaves in stock.items():
        assert leaves.keys() == ours[key].keys(), key
        for path, value in leaves.items():
            other = ours[key][path]
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                assert abs(value - other) <= TOLERANCE, (key, path, value, other)
            else:
                assert value == other, (key, path, value, other)


@pytest.mark.e2e
def test_one_pass_evaluator_equals_tfma(models, tmp_path):
    """Every metric, plot and diff of every slice within 1e-6, and the same verdict of
    the gate: the AUC clears its floor, but a drop limit of -0.5 asks for a gain of 0.5
    over the baseline, which fails (the pipeline tests bless models the usual way).
    Ours as the pipeline runs it: slicing whole batches, signatures called by name."""
    import tensorflow_model_analysis as tfma

    from pipeline import tfma_hooks
    from pipeline.evaluation import eval_config, overall_metrics
    examples = _examples_artifact(tmp_path / 'examples')
    candidate, baseline = models
    ours_config = eval_config(0.5, -0.5)
    outcomes = {}
    for name, config, hooks in (('stock', stock_config(ours_config), ''),
                                ('ours', ours_config, tfma_hooks.MODULE)):
        evaluation, blessing = run_evaluator(config, examples, candidate, baseline,
                                             tmp_path / name, hooks)
        validation = tfma.load_validation_result(evaluation.uri)
        failed = sorted({(failure.metric_key.name, failure.metric_key.is_diff)
                         for details in validation.metric_validations_per_slice
                         for failure in details.failures})
        outcomes[name] = (results(evaluation.uri), sorted(os.listdir(blessing.uri)),
                          validation.validation_ok, overall_metrics(evaluation.uri),
                          json.loads(evaluation.get_string_custom_property('overall_metrics')),
                          failed)
    stock, ours = outcomes['stock'], outcomes['ours']
    assert len(stock[0]) > 600          # 31 slices x 2 models, metrics, diffs and plots
    assert_same(stock[0], ours[0])
    assert stock[1] == ours[1] == ['NOT_BLESSED']
    assert stock[2] is ours[2] is False
    assert stock[5] == ours[5] == [('auc', True)]
    assert stock[3].keys() == ours[3].keys() and 'auc_diff' in ours[3]
    for name, value in stock[3].items():
        assert abs(value - ours[3][name]) <= TOLERANCE, name
    assert ours[4] == pytest.approx(stock[4], abs=TOLERANCE)
