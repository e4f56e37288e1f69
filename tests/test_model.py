"""The Keras model trains on real transformed data; its export matches the
in-pipeline path (Transform's output fed to the network) row for row."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from models import features as f
from models import model as model_lib
from models import trainer
from tests.conftest import to_example


def _inputs(transformed, model):
    x = {name: np.array([row[name] for row in transformed]) for name in model.input_names}
    y = np.array([row[f.LABEL_XF] for row in transformed], dtype=np.float32)
    return x, y


@pytest.fixture(scope='module')
def trained(tft_result):
    transform_dir, transformed = tft_result
    output = tft.TFTransformOutput(transform_dir)
    sizes = {k: output.vocabulary_size_by_name(k) for k in f.VOCABULARY_FEATURES}
    model = model_lib.build_model(model_lib.categorical_features(sizes), hidden_units=[32, 16],
                                  embedding_dim=4, dropout=0.0, learning_rate=0.01)
    x, y = _inputs(transformed, model)
    model.fit(x, y, batch_size=128, epochs=3, verbose=0)
    return model, output, x, y


def test_model_trains_a_step(tft_result):
    transform_dir, transformed = tft_result
    output = tft.TFTransformOutput(transform_dir)
    sizes = {k: output.vocabulary_size_by_name(k) for k in f.VOCABULARY_FEATURES}
    model = model_lib.build_model(model_lib.categorical_features(sizes), [8], 4, 0.1, 0.01)
    x, y = _inputs(transformed, model)
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(x, y, return_dict=True)['loss']
    assert np.isfinite(loss)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
    probabilities = model.predict(x, verbose=0)
    assert probabilities.shape == (len(y), 1)
    assert ((probabilities > 0) & (probabilities < 1)).all()


def test_training_learns_the_label(trained):
    model, _, x, y = trained
    auc = tf.keras.metrics.AUC()
    auc.update_state(y, model.predict(x, verbose=0)[:, 0])
    assert auc.result().numpy() > 0.85


def test_hparams_reject_unknown_keys():
    with pytest.raises(ValueError, match='bogus'):
        trainer.hparams({'bogus': 1})
    assert trainer.hparams({'batch_size': 8})['batch_size'] == 8


def test_exported_signatures_match_the_in_pipeline_path(trained, raw_instances, tft_result,
                                                        tmp_path):
    model, output, x, _ = trained
    _, transformed = tft_result
    trainer.export(model, output, str(tmp_path))
    loaded = tf.saved_model.load(str(tmp_path))

    # serving_default: raw tf.Examples without the label -> same probabilities.
    served = loaded.signatures['serving_default'](
        examples=tf.constant([to_example(r) for r in raw_instances]))['probabilities'].numpy()
    np.testing.assert_allclose(served, model.predict(x, verbose=0), atol=1e-5)

    # transform_features (TFMA's preprocessing): the same features Transform wrote.
    features = loaded.signatures['transform_features'](
        examples=tf.constant([to_example(r, drop=()) for r in raw_instances]))
    for name in transformed[0]:
        expected = np.array([row[name] for row in transformed])
        np.testing.assert_allclose(features[name].numpy().reshape(-1), expected, atol=1e-5,
                                   err_msg=name)
