"""The Keras model trains on real transformed data; its export matches the
in-pipeline path (Transform's output fed to the network) row for row."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from models import features as f
from models import hparams
from models import model as model_lib
from tests.support import to_example


def _inputs(transformed, model):
    x = {name: np.array([row[name] for row in transformed]) for name in model.input_names}
    y = np.array([row[f.LABEL_XF] for row in transformed], dtype=np.float32)
    return x, y


def test_model_trains_a_step(tft_result):
    transform_dir, transformed = tft_result
    output = tft.TFTransformOutput(transform_dir)
    sizes = {k: output.vocabulary_size_by_name(k) for k in f.VOCABULARY_FEATURES}
    model = model_lib.build_model(model_lib.categorical_features(sizes), [8], 4, 0.1, 0.01)
    x, y = _inputs(transformed, model)
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(x, y, return_dict=True)['loss']
    assert np.isfinite(loss)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    probabilities = model.predict(x, verbose=0)
    assert probabilities.shape == (len(y), 1)
    assert ((probabilities > 0) & (probabilities < 1)).all()


def test_training_learns_the_label(exported_model, tft_result):
    _, model, x = exported_model
    y = np.array([row[f.LABEL_XF] for row in tft_result[1]])
    auc = tf.keras.metrics.AUC()
    auc.update_state(y, model.predict(x, verbose=0)[:, 0])
    assert auc.result().numpy() > 0.85


def test_hparams_come_from_their_own_custom_config_key():
    with pytest.raises(ValueError, match='bogus'):
        hparams.hparams({'hparams': {'bogus': 1}})
    given = hparams.hparams({'hparams': {'batch_size': 8}, 'ai_platform_training_args': {}})
    assert given['batch_size'] == 8
    assert hparams.hparams(None) == hparams.DEFAULT_HPARAMS


def test_exported_signatures_match_the_in_pipeline_path(exported_model, raw_instances,
                                                        tft_result):
    export_dir, model, x = exported_model
    _, transformed = tft_result
    loaded = tf.saved_model.load(export_dir)

    # serving_default: raw tf.Examples without the label -> same probabilities.
    served = loaded.signatures['serving_default'](
        examples=tf.constant([to_example(r) for r in raw_instances]))['probabilities'].numpy()
    np.testing.assert_allclose(served, model.predict(x, verbose=0), atol=1e-5)

    # transform_features: the same features Transform wrote; transform_label (TFMA's
    # preprocessing): the same label, alone.
    labelled = tf.constant([to_example(r, drop=()) for r in raw_instances])
    features = loaded.signatures['transform_features'](examples=labelled)
    for name in transformed[0]:
        expected = np.array([row[name] for row in transformed])
        np.testing.assert_allclose(features[name].numpy().reshape(-1), expected, atol=1e-5,
                                   err_msg=name)
    label = loaded.signatures['transform_label'](examples=labelled)
    assert list(label) == [f.LABEL_XF]
    np.testing.assert_array_equal(label[f.LABEL_XF].numpy(), features[f.LABEL_XF].numpy())

    # classification and regression: the same probability, as Classify/Regress expect it.
    inputs = tf.constant([to_example(r) for r in raw_instances[:50]])
    classified = loaded.signatures['classification'](inputs=inputs)
    assert classified['classes'].numpy()[0].tolist() == [b'0', b'1']
    np.testing.assert_allclose(classified['scores'].numpy()[:, 1], served[:50, 0], atol=1e-6)
    np.testing.assert_allclose(classified['scores'].numpy().sum(axis=1), 1, atol=1e-6)
    regressed = loaded.signatures['regression'](inputs=inputs)['outputs'].numpy()
    np.testing.assert_allclose(regressed, served[:50, 0], atol=1e-6)


def test_export_carries_warmup_requests(exported_model):
    from serving.servable import read_warmup_requests
    logs = read_warmup_requests(exported_model[0])
    kinds = [log.WhichOneof('log_type') for log in logs]
    assert kinds == ['predict_log', 'predict_log', 'classify_log', 'regress_log']
    assert logs[0].predict_log.request.inputs['examples'].tensor_shape.dim[0].size == 1


def test_examples_read_in_chunks_are_read_whole(tft_result, tmp_path, monkeypatch):
    """load_examples parses and orders a chunk at a time; the tensors it gives, and
    their order, are those of one pass over everything."""
    transform_dir, transformed = tft_result
    spec = tft.TFTransformOutput(transform_dir).transformed_feature_spec()
    path = str(tmp_path / 'examples.gz')
    with tf.io.TFRecordWriter(path, tf.io.TFRecordOptions(compression_type='GZIP')) as out:
        for row in transformed:
            out.write(_example(row, spec).SerializeToString())
    whole = model_lib.load_examples([path], spec)
    monkeypatch.setattr(model_lib, '_CHUNK', 7)
    chunked = model_lib.load_examples([path], spec)
    assert len(transformed) > 3 * 7 and set(chunked[0]) == set(whole[0])
    for name in whole[0]:
        np.testing.assert_array_equal(chunked[0][name].numpy(), whole[0][name].numpy())
    np.testing.assert_array_equal(chunked[1].numpy(), whole[1].numpy())


def _example(row, spec):
    """A transformed row as the tf.Example Transform writes."""
    def feature(name, value):
        values = np.ravel(value).tolist()
        if spec[name].dtype == tf.float32:
            return tf.train.Feature(float_list=tf.train.FloatList(value=values))
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))
    return tf.train.Example(features=tf.train.Features(
        feature={name: feature(name, row[name]) for name in spec}))


def test_a_bounded_eval_set_is_a_seeded_sample_not_the_first_examples():
    examples = ({'x': tf.range(1000)}, tf.range(1000) % 2)
    chosen = model_lib.sample(examples, 100, seed=7)
    values = chosen[0]['x'].numpy()
    assert len(values) == 100 and len(set(values)) == 100
    assert list(values) == sorted(values) and values.max() > 500   # spread, in order
    np.testing.assert_array_equal(chosen[1].numpy(), values % 2)
    np.testing.assert_array_equal(model_lib.sample(examples, 100, seed=7)[0]['x'], values)
    assert model_lib.sample(examples, 1000, seed=7) is examples


def test_a_baseline_without_transform_label_is_asked_for_transform_features(exported_model,
                                                                            tmp_path):
    """A blessed model exported before transform_label existed (an older home, a
    rollback) gets the Evaluator's label from transform_features, for both models."""
    import shutil

    import tensorflow_model_analysis as tfma
    from tensorflow.core.protobuf import saved_model_pb2
    from tfx.types import standard_component_specs
    from tfx.utils import proto_utils

    from pipeline import evaluation

    key = standard_component_specs.EVAL_CONFIG_KEY
    exec_properties = {key: proto_utils.proto_to_json(evaluation.eval_config(0.9, 0.01))}
    assert evaluation.with_label_function_of(exported_model[0], exec_properties) \
        is exec_properties
    older = shutil.copytree(exported_model[0], tmp_path / 'older')
    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString((older / 'saved_model.pb').read_bytes())
    del saved_model.meta_graphs[0].signature_def[evaluation.LABEL_FUNCTION]
    (older / 'saved_model.pb').write_bytes(saved_model.SerializeToString())
    changed = evaluation.with_label_function_of(str(older), exec_properties)
    config = proto_utils.json_to_proto(changed[key], tfma.EvalConfig())
    assert [list(spec.preprocessing_function_names) for spec in config.model_specs] == \
        [['transform_features']]
