"""The Evaluator's TFMA hooks (pipeline/tfma_hooks.py): TFMA's model, loaded so that
its one-input signatures take serialized examples positionally, as TFMA calls them."""

import copy

import numpy as np

import common.bootstrap  # noqa: F401  (first: the environment before TensorFlow loads)
from tests.support import to_example


def test_the_evaluators_model_answers_positional_calls_as_its_signatures_do(
        exported_model, raw_instances):
    import tensorflow as tf

    from pipeline import tfma_hooks
    from pipeline.evaluation import LABEL_FUNCTION, eval_config
    export_dir, _, _ = exported_model
    shared = tfma_hooks.custom_eval_shared_model(
        eval_saved_model_path=export_dir, model_name='', eval_config=eval_config(0.5, 0.1))
    model = shared.model_loader.construct_fn()
    plain = tf.saved_model.load(export_dir)
    examples = tf.constant([to_example(instance, drop=()) for instance in raw_instances[:50]])
    for name in ('serving_default', LABEL_FUNCTION):
        [input_name] = plain.signatures[name].structured_input_signature[1]
        ours, theirs = model.signatures[name](examples), plain.signatures[name](
            **{input_name: examples})
        assert ours.keys() == theirs.keys()
        for key in ours:
            np.testing.assert_array_equal(ours[key].numpy(), theirs[key].numpy())
    assert set(model.signatures) == set(plain.signatures)
    assert copy.copy(model).signatures.keys() == model.signatures.keys()
    assert model.signatures['serving_default'].structured_outputs.keys() == \
        plain.signatures['serving_default'].structured_outputs.keys()


def test_signatures_of_several_inputs_are_left_as_they_are(tmp_path):
    import tensorflow as tf

    from pipeline.tfma_hooks import KeywordSignature, keyword_signature

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name='a'),
                                  tf.TensorSpec([None], tf.float32, name='b')])
    def add(a, b):
        return {'sum': a + b}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name='x')])
    def double(x):
        return {'double': 2 * x}

    tf.saved_model.save(tf.Module(), str(tmp_path), signatures={'add': add, 'double': double})
    signatures = tf.saved_model.load(str(tmp_path)).signatures
    assert keyword_signature(signatures['add']) is signatures['add']
    wrapped = keyword_signature(signatures['double'])
    assert isinstance(wrapped, KeywordSignature)
    assert wrapped(tf.constant([1.5]))['double'].numpy().tolist() == [3.0]
