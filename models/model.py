"""The Keras network (wide and deep) and its tf.data input.

Keras 2 (tf-keras) on purpose: TFT's transform layer is a tf-keras model, and
one SavedModel must not mix Keras 2 and Keras 3 objects; see the README.
"""

from typing import Dict, List, Sequence

import tensorflow as tf
import tf_keras as keras
from tfx_bsl.public import tfxio

from models import features as f


def categorical_features(vocabulary_sizes: Dict[str, int]) -> Dict[str, int]:
    """Transformed categorical feature -> number of distinct indices it takes."""
    sizes = {f.transformed_name(k): n + 1 for k, n in f.INTEGER_CATEGORICAL_FEATURES.items()}
    for name in f.VOCABULARY_FEATURES + list(f.CROSSES):
        sizes[f.transformed_name(name)] = vocabulary_sizes[name] + f.OOV_BUCKETS
    for name in f.COORDINATES:
        sizes[f.transformed_name(name + '_cell')] = f.GRID_CELLS
    return sizes


def _embedding_dim(cardinality: int) -> int:
    return max(2, min(16, round(1.6 * cardinality ** 0.56)))


def build_model(cardinalities: Dict[str, int], hidden_units: Sequence[int],
                dropout: float, learning_rate: float) -> keras.Model:
    """Wide (a linear term per categorical and cross) and deep (embeddings and
    numeric features through a ReLU tower) network giving P(big tip)."""
    numeric = {f.transformed_name(k): keras.Input(shape=(1,), name=f.transformed_name(k))
               for k in f.NUMERIC_FEATURES}
    categorical = {k: keras.Input(shape=(1,), name=k, dtype=tf.int64) for k in cardinalities}

    deep = list(numeric.values())
    wide = []
    for name, index in categorical.items():
        n = cardinalities[name]
        deep.append(keras.layers.Flatten()(
            keras.layers.Embedding(n, _embedding_dim(n), name=name + '_embedding')(index)))
        wide.append(keras.layers.Flatten()(
            keras.layers.Embedding(n, 1, name=name + '_linear')(index)))

    x = keras.layers.concatenate(deep)
    for units in hidden_units:
        x = keras.layers.Dense(units, activation='relu')(x)
        x = keras.layers.Dropout(dropout)(x)
    logit = keras.layers.add([keras.layers.Dense(1)(x)] + wide)
    probability = keras.layers.Activation('sigmoid', name='probabilities')(logit)

    model = keras.Model({**numeric, **categorical}, probability)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss='binary_crossentropy',
        metrics=[keras.metrics.AUC(name='auc'), keras.metrics.BinaryAccuracy(name='accuracy')])
    return model


def input_dataset(files: List[str], data_accessor, schema, batch_size: int,
                  seed: int, shuffle: bool) -> tf.data.Dataset:
    """One pass over transformed examples as (features, label) batches, kept in memory."""
    options = tfxio.TensorFlowDatasetOptions(
        batch_size=batch_size, label_key=f.LABEL_XF, num_epochs=1,
        shuffle=shuffle, shuffle_seed=seed, shuffle_buffer_size=50_000)
    return data_accessor.tf_dataset_factory(files, options, schema).cache()
