"""The Keras network (wide and deep) and its tf.data input.

Keras 2 (tf-keras) on purpose: TFT's transform layer is a tf-keras model, and
one SavedModel must not mix Keras 2 and Keras 3 objects; see the README.
"""

from typing import Dict, Iterator, List, Sequence, Tuple

import numpy as np
import tensorflow as tf
import tf_keras as keras
from tensorflow.python.autograph.core import config as autograph_config

from models import features as f

# AutoGraph leaves the `keras` package alone but, in TF 2.16, not `tf_keras`:
# converting tf-keras' code took 12 s on the first fit and 6-9 s per export
# here. tf-keras is written for graph mode without conversion, like `keras`.
if not any(str(rule) == 'DoNotConvert rule for tf_keras'
           for rule in autograph_config.CONVERSION_RULES):
    autograph_config.CONVERSION_RULES = (
        (autograph_config.DoNotConvert('tf_keras'),) + autograph_config.CONVERSION_RULES)


def categorical_features(vocabulary_sizes: Dict[str, int]) -> Dict[str, int]:
    """Transformed categorical feature -> number of distinct indices it takes."""
    sizes = {f.transformed_name(k): n + 1 for k, n in f.INTEGER_CATEGORICAL_FEATURES.items()}
    for name in f.VOCABULARY_FEATURES:
        sizes[f.transformed_name(name)] = vocabulary_sizes[name] + f.OOV_BUCKETS
    for name, (_, buckets) in f.CROSSES.items():
        sizes[f.transformed_name(name)] = buckets
    for name in f.COORDINATES:
        sizes[f.transformed_name(name + '_cell')] = f.GRID_CELLS
    return sizes


class _Offset(keras.layers.Layer):
    """Shifts each feature's indices into its own rows of a shared table."""

    def __init__(self, offsets, **kwargs):
        super().__init__(**kwargs)
        self.offsets = list(offsets)

    def call(self, indices):
        return indices + tf.constant(self.offsets, tf.int64)

    def get_config(self):
        return {**super().get_config(), 'offsets': self.offsets}


def build_model(cardinalities: Dict[str, int], hidden_units: Sequence[int], embedding_dim: int,
                dropout: float, learning_rate: float) -> keras.Model:
    """Wide and deep: a linear term per category plus a ReLU tower over numeric
    features and an embedding per category.

    All categorical features share one embedding table, each in its own rows:
    two lookups per batch instead of two per feature, which keeps steps fast.
    """
    numeric = {f.transformed_name(k): keras.Input(shape=(1,), name=f.transformed_name(k))
               for k in f.NUMERIC_FEATURES}
    categorical = {k: keras.Input(shape=(1,), name=k, dtype=tf.int64) for k in cardinalities}

    sizes = [cardinalities[k] for k in categorical]
    rows = _Offset(np.cumsum([0] + sizes[:-1]))(
        keras.layers.concatenate(list(categorical.values())))
    embedded = keras.layers.Flatten()(
        keras.layers.Embedding(sum(sizes), embedding_dim, name='embeddings')(rows))
    wide = keras.layers.Flatten()(keras.layers.Embedding(sum(sizes), 1, name='linear')(rows))

    x = keras.layers.concatenate(list(numeric.values()) + [embedded])
    for units in hidden_units:
        x = keras.layers.Dense(units, activation='relu')(x)
        x = keras.layers.Dropout(dropout)(x)
    deep = keras.layers.Dense(1)(x)
    wide_sum = keras.layers.Lambda(lambda w: tf.reduce_sum(w, axis=1, keepdims=True))(wide)
    logit = keras.layers.add([deep, wide_sum])
    # float32 even under mixed precision: the exported probabilities stay float32.
    probability = keras.layers.Activation('sigmoid', name='probabilities', dtype='float32')(logit)

    model = keras.Model({**numeric, **categorical}, probability)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate, jit_compile=False),
        loss='binary_crossentropy',
        metrics=[keras.metrics.AUC(name='auc', num_thresholds=1000),
                 keras.metrics.BinaryAccuracy(name='accuracy')])
    return model


# Records parsed (and content keys built) this many at a time: a split's serialized
# records and its keys as strings never sit in memory whole (at 1M examples: +1.7 GB
# at once, against +0.3 GB for the parsed tensors).
_CHUNK = 1 << 16


def content_keys(features: Dict[str, tf.Tensor]) -> np.ndarray:
    """Each example's content as bytes: its features' exact values, in key order."""
    columns = [tf.strings.as_string(tf.bitcast(value, tf.int32) if value.dtype == tf.float32
                                    else value)
               for _, value in sorted(features.items())]
    return tf.strings.reduce_join(tf.stack(columns, axis=1), axis=1, separator='|').numpy()


def content_order(features: Dict[str, tf.Tensor]) -> np.ndarray:
    """Indices of the examples sorted by their content (every feature's exact value).

    ExampleGen writes each split in a random order (a Beam Reshuffle), and the
    serialized bytes of the same example differ from run to run (tf.Example's
    feature map has no fixed order); sorted by content, the order examples
    arrive in cannot reach training. Identical examples tie, harmlessly."""
    count = next(iter(features.values())).shape[0] if features else 0
    if not count:
        return np.zeros(0, dtype=np.int64)
    keys = np.concatenate([
        content_keys({name: value[start:start + _CHUNK] for name, value in features.items()})
        for start in range(0, count, _CHUNK)])
    return np.argsort(keys, kind='stable')


Examples = Tuple[Dict[str, tf.Tensor], tf.Tensor]   # features, labels


def parse_records(files: List[str], feature_spec) -> Dict[str, tf.Tensor]:
    """Every record of gzipped TFRecord files parsed, a chunk at a time (read in
    batches, not record by record into Python: 0.1 s against 0.5-0.8 s per 15k)."""
    return joined(list(parsed_chunks(files, feature_spec)), feature_spec)


def parsed_chunks(files: List[str], feature_spec) -> Iterator[Dict[str, tf.Tensor]]:
    """The records of gzipped TFRecord files parsed, _CHUNK at a time."""
    for records in tf.data.TFRecordDataset(files, compression_type='GZIP').batch(_CHUNK):
        yield tf.io.parse_example(records, feature_spec)


def joined(chunks: List[Dict[str, tf.Tensor]], feature_spec) -> Dict[str, tf.Tensor]:
    """Parsed chunks as one: each feature's tensors concatenated."""
    if not chunks:
        return tf.io.parse_example(tf.constant([], tf.string), feature_spec)
    return {name: tf.concat([chunk[name] for chunk in chunks], axis=0) for name in chunks[0]}


def matching_files(file_patterns: List[str]) -> List[str]:
    return sorted(path for pattern in file_patterns for path in tf.io.gfile.glob(pattern))


def load_examples(file_patterns: List[str], feature_spec) -> Examples:
    """Transformed examples (gzipped TFRecords of tf.Examples) parsed into tensors,
    in the order of their content (see content_order)."""
    return content_sorted(parse_records(matching_files(file_patterns), feature_spec))


def content_sorted(features: Dict[str, tf.Tensor]) -> Examples:
    """Parsed examples in the order of their content, the label apart."""
    order = content_order(features)
    features = {name: tf.gather(value, order) for name, value in features.items()}
    return features, features.pop(f.LABEL_XF)


def sample(examples: Examples, count: int, seed: int) -> Examples:
    """At most count examples drawn at random by the seed alone, in their order: the
    examples are sorted by content, so the first `count` would be a biased few."""
    features, label = examples
    if len(label) <= count:
        return examples
    chosen = np.sort(np.random.default_rng(seed).choice(len(label), count, replace=False))
    return {name: tf.gather(value, chosen) for name, value in features.items()}, \
        tf.gather(label, chosen)


def batches(examples: Examples, batch_size: int, seed: int, shuffle: bool) -> tf.data.Dataset:
    """(features, label) batches, held in memory. With shuffle, the examples come in
    an order drawn from the seed alone: the same data and seed give the same batches
    on every run."""
    features, label = examples
    if shuffle:
        order = np.random.default_rng(seed).permutation(len(label))
        features = {name: tf.gather(value, order) for name, value in features.items()}
        label = tf.gather(label, order)
    return tf.data.Dataset.from_tensor_slices((features, label)).batch(batch_size).cache()
