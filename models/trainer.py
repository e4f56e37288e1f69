"""The Trainer's run_fn: train the Keras model and export it for serving and TFMA."""

import contextlib
import functools
import json
import os
import tempfile
from typing import Any, Dict, Optional, Tuple

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from models import distribution, split_data, warmup
from models import features as f
from models import model as model_lib
from models.hparams import DETERMINISTIC_KEY, HPARAMS_FILE, hparams, tuned_values


def load_data(fn_args, tf_transform_output: tft.TFTransformOutput):
    """(train, eval) splits, read once, whatever trains on them: in memory when
    small, else on disk a group at a time (models/split_data.py)."""
    feature_spec = tf_transform_output.transformed_feature_spec()
    return (split_data.read_split(fn_args.train_files, feature_spec),
            split_data.read_split(fn_args.eval_files, feature_spec))


def train(fn_args, tf_transform_output: tft.TFTransformOutput, hp: Dict[str, Any],
          strategy: tf.distribute.Strategy, initial=None, data=None,
          log_dir: Optional[str] = None) -> Tuple[keras.Model, tf.data.Dataset]:
    """Fits the model on the train split for hp['train_steps'] (else the Trainer's
    steps), validating on eval, with early stopping; returns it and the eval data.
    data: load_data's, when it was read already. initial(model), if given, sets
    starting weights and returns what it did, which goes to the model_run directory.
    log_dir: where TensorBoard logs go, if anywhere."""
    keras.utils.set_random_seed(hp['seed'])
    train_split, eval_split = data or load_data(fn_args, tf_transform_output)
    feature_spec = tf_transform_output.transformed_feature_spec()
    batch_size = hp['batch_size'] * strategy.num_replicas_in_sync
    train_data = split_data.train_batches(train_split, feature_spec, batch_size, hp['seed'])
    eval_data = split_data.eval_batches(
        eval_split, feature_spec, batch_size, hp['seed'],
        fn_args.eval_steps * batch_size if fn_args.eval_steps else None)
    steps = hp.get('train_steps') or fn_args.train_steps

    vocabulary_sizes = {name: tf_transform_output.vocabulary_size_by_name(name)
                        for name in f.VOCABULARY_FEATURES}
    with strategy.scope():
        model = model_lib.build_model(
            model_lib.categorical_features(vocabulary_sizes), hp['hidden_units'],
            hp['embedding_dim'], hp['dropout'], hp['learning_rate'])
        if initial is not None:
            summary = initial(model)
            tf.io.gfile.makedirs(fn_args.model_run_dir)
            with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, WARM_START_FILE),
                                   'w') as out:
                out.write(json.dumps(summary))

    evaluations = max(1, min(hp['evaluations'], steps))
    callbacks = [keras.callbacks.EarlyStopping(monitor='val_auc', mode='max',
                                               patience=hp['patience'],
                                               restore_best_weights=True)]
    if log_dir:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=log_dir, update_freq='epoch',
                                                     profile_batch=0))
    model.fit(
        train_data.shuffle(1000, seed=hp['seed']).repeat(),
        steps_per_epoch=-(-steps // evaluations),
        epochs=evaluations,
        validation_data=eval_data,
        verbose=0,
        callbacks=callbacks)
    return model, eval_data


class _ServingModule(tf.Module):
    """What the SavedModel tracks: the network's weights and the TFT graph.

    The Keras model itself is not tracked: that would make TensorFlow trace
    and serialize every layer for tf-keras' own loader (seconds per export),
    and our signatures are all that serving and TFMA use.
    """

    def __init__(self, model: keras.Model, tf_transform_output: tft.TFTransformOutput):
        super().__init__()
        self.model_variables = list(model.variables)
        self.tft_layer = tf_transform_output.transform_features_layer()


# TensorFlow's process-wide counter is moved on to a multiple of this before the
# Trainer's work: about 0.2 s, and far more than the few thousand numbers by which
# the work before it differs between processes.
_NUMBERING_BLOCK = 1 << 20


def numbers_from_a_fixed_base() -> None:
    """TensorFlow numbers what it traces and captures with a counter of the process
    (`__inference_serve_15956`, `_user_specified_name: "13806"`), so the same model
    exported by two processes whose earlier work used a different count (Beam in
    process or in worker processes, another command such as `reproduce`, the timing
    of in-process Beam) has the same weights in other bytes. Moving the counter on to
    the next multiple of _NUMBERING_BLOCK makes what follows number the same."""
    from tensorflow.python.framework import ops  # the counter is not public API
    while ops.uid() % _NUMBERING_BLOCK:
        pass


def export(model: keras.Model, tf_transform_output: tft.TFTransformOutput, export_dir: str):
    """Writes the SavedModel. Every signature takes serialized tf.Examples of raw
    features and applies the TFT graph inside:

      serving_default     examples -> probabilities [batch, 1]   (Predict)
      classification      inputs -> classes ["0", "1"], scores   (Classify)
      regression          inputs -> outputs: P(big tip) [batch]  (Regress)
      transform_features  examples -> transformed features, label included
      transform_label     examples -> the transformed label alone (TFMA's
                          preprocessing: TFMA splits whatever it returns into
                          per-example dicts, the Evaluator's largest cost)
    """
    module = _ServingModule(model, tf_transform_output)
    raw_spec = tf_transform_output.raw_feature_spec()
    serving_spec = {k: v for k, v in raw_spec.items() if k != f.LABEL_KEY}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
    def serve(examples):
        transformed = module.tft_layer(tf.io.parse_example(examples, serving_spec))
        inputs = {name: transformed[name] for name in model.input_names}
        return {'probabilities': model(inputs, training=False)}

    # Classify and Regress call serve's graph rather than trace the TFT graph
    # and the network again (0.26 s less export time, measured).
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='inputs')])
    def classify(inputs):
        p = serve(inputs)['probabilities']
        classes = tf.tile(tf.constant([['0', '1']]), [tf.shape(p)[0], 1])
        return {'classes': classes, 'scores': tf.concat([1 - p, p], axis=1)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='inputs')])
    def regress(inputs):
        return {'outputs': tf.reshape(serve(inputs)['probabilities'], [-1])}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
    def transform_features(examples):
        return module.tft_layer(tf.io.parse_example(examples, raw_spec))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
    def transform_label(examples):
        return {f.LABEL_XF: transform_features(examples)[f.LABEL_XF]}

    tf.saved_model.save(module, export_dir, signatures={
        'serving_default': serve,
        'classification': classify,
        'regression': regress,
        'transform_features': transform_features,
        'transform_label': transform_label,
    })
    warmup.write_warmup_requests(export_dir)


WARM_START_FILE = 'warm_start.json'


def warm_start(model: keras.Model, base_model_dir: str) -> Dict[str, Any]:
    """Starts from the weights of a previously exported model where they fit.

    The export tracks the network's variables in order (model_variables); those
    whose shape still matches are copied. An embedding table whose vocabulary
    grew no longer fits and starts fresh."""
    base = tf.saved_model.load(base_model_dir)
    restored = 0
    previous_variables = getattr(base, 'model_variables', [])
    for variable, previous in zip(model.variables, previous_variables, strict=False):
        if variable.shape == previous.shape and variable.dtype == previous.dtype:
            variable.assign(previous)
            restored += 1
    return {'base_model': base_model_dir, 'restored': restored,
            'variables': len(model.variables)}


@contextlib.contextmanager
def op_determinism(enabled: bool):
    """TensorFlow's op determinism while the block runs: the same inputs, seeds and
    code give bit-identical weights (TF picks deterministic kernels and orders
    reductions). The Trainer shares its process with other components under
    LocalDagRunner, so the setting is put back afterwards."""
    from tensorflow.python.framework import config  # the switch's off side is not public
    was_enabled = config.is_op_determinism_enabled()
    if enabled and not was_enabled:
        tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if enabled and not was_enabled:
            config.disable_op_determinism()


def run_fn(fn_args):
    """TFX Trainer entry point (referenced as `models.trainer.run_fn`). The best
    hyperparameters of a Tuner (fn_args.hyperparameters), when the pipeline gives
    them, override the defaults; what was used goes to model_run/hparams.json."""
    tuned = tuned_values(fn_args.hyperparameters)
    hp = hparams(fn_args.custom_config, tuned)
    tf.io.gfile.makedirs(fn_args.model_run_dir)
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, HPARAMS_FILE), 'w') as out:
        out.write(json.dumps({'hparams': {**hp, 'train_steps': hp.get('train_steps')
                                          or fn_args.train_steps},
                              'tuned': bool(tuned)}, sort_keys=True))
    distribution.use_mixed_precision()
    strategy = distribution.strategy()
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    initial = None
    if fn_args.base_model:   # the last blessed model, when the pipeline warm-starts
        initial = functools.partial(warm_start, base_model_dir=fn_args.base_model)
    numbers_from_a_fixed_base()
    data = load_data(fn_args, tf_transform_output)
    try:
        with op_determinism((fn_args.custom_config or {}).get(DETERMINISTIC_KEY, True)):
            model, _ = train(fn_args, tf_transform_output, hp, strategy, initial, data=data,
                             log_dir=fn_args.model_run_dir)
            # Every worker of a multi-worker job must save; only the chief's copy is kept.
            export_dir = (fn_args.serving_model_dir if distribution.is_chief()
                          else tempfile.mkdtemp(prefix='non_chief_export_'))
            export(model, tf_transform_output, export_dir)
    finally:
        for split in data:     # tf.data's generators keep spilled splits alive
            split.close()
