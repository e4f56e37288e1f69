"""The TFT preprocessing_fn: one graph for training, evaluation and serving.

Every raw feature is optional (VarLen in the schema) so that a serving request
with a field missing is still answered; what missing means is explicit for
each kind of feature below.
"""

import tensorflow as tf
import tensorflow_transform as tft

from models import features as f


def _map_values(x, fn):
    """Applies fn to the values present in a (possibly sparse) feature."""
    if isinstance(x, tf.SparseTensor):
        return tf.SparseTensor(x.indices, fn(x.values), x.dense_shape)
    return fn(x)


def _dense(x, default):
    """Rank-1 dense tensor from a [batch, 0 or 1] feature, `default` where absent."""
    if isinstance(x, tf.SparseTensor):
        x = tf.sparse.to_dense(
            tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default)
    return tf.reshape(x, [-1])


def _to_float(values):
    return tf.cast(values, tf.float32)


def _to_text(values):
    return values if values.dtype == tf.string else tf.strings.as_string(values)


def _text(x):
    """A categorical feature as dense strings, MISSING_TOKEN where absent."""
    return _dense(_map_values(x, _to_text), f.MISSING_TOKEN)


def _vocabulary(text, name):
    return tft.compute_and_apply_vocabulary(
        text, top_k=f.VOCABULARY_SIZE, num_oov_buckets=f.OOV_BUCKETS,
        vocab_filename=name)


def _integer_code(x, size):
    """The code itself when in [0, size), else `size` (missing or invalid)."""
    code = _dense(_map_values(x, lambda v: tf.cast(v, tf.int64)), tf.constant(-1, tf.int64))
    return tf.where((code >= 0) & (code < size), code, tf.constant(size, tf.int64))


def _bucket(x, num_buckets):
    """Quantile bucket in [0, num_buckets), or num_buckets where missing."""
    return _dense(tft.bucketize(x, num_buckets), tf.constant(num_buckets, tf.int64))


def _grid_cell(latitude, longitude):
    """Cell of a latitude x longitude grid of quantile buckets."""
    n = f.COORDINATE_BUCKETS
    return _bucket(latitude, n) * (n + 1) + _bucket(longitude, n)


def _log_z_score(x):
    """z-score of log1p(x); a missing value gets the mean, which is 0.

    Mean and variance accumulate in float64: where Beam sizes the batches TFT
    sums over by timing (workers in other processes; see operations.execution.batch_by_size),
    float32 sums in another order changed z-scores in their last bit (1e-7) from
    one run to the next; in float64 such differences stay below what the float32
    result can show."""
    logged = _map_values(x, lambda v: tf.math.log1p(tf.maximum(tf.cast(v, tf.float64), 0.0)))
    return tf.cast(_dense(tft.scale_to_z_score(logged, output_dtype=tf.float64), 0.0),
                   tf.float32)


def _label(inputs):
    """1 when the tip is over 20% of the fare; 0 when either is missing."""
    fare = _dense(_map_values(inputs[f.FARE_KEY], _to_float), float('nan'))
    tips = _dense(_map_values(inputs[f.LABEL_KEY], _to_float), float('nan'))
    return tf.cast(tips > 0.2 * fare, tf.int64)


def preprocessing_fn(inputs):
    """Maps raw features to the model's inputs; see models/features.py."""
    outputs = {f.LABEL_XF: _label(inputs)}
    for key in f.NUMERIC_FEATURES:
        outputs[f.transformed_name(key)] = _log_z_score(inputs[key])
    for key, size in f.INTEGER_CATEGORICAL_FEATURES.items():
        outputs[f.transformed_name(key)] = _integer_code(inputs[key], size)

    text = {key: _text(inputs[key]) for key in f.VOCABULARY_FEATURES}
    for key, values in text.items():
        outputs[f.transformed_name(key)] = _vocabulary(values, key)

    derived = {
        'payment_type': text['payment_type'],
        'fare_bucket': _bucket(inputs[f.FARE_KEY], f.FARE_BUCKETS),
    }
    for name, (latitude, longitude) in f.COORDINATES.items():
        derived[name + '_cell'] = _grid_cell(inputs[latitude], inputs[longitude])
        outputs[f.transformed_name(name + '_cell')] = derived[name + '_cell']

    for name, ((left, right), buckets) in f.CROSSES.items():
        joined = tf.strings.join([_text(derived[left]), _text(derived[right])], '|')
        outputs[f.transformed_name(name)] = tf.strings.to_hash_bucket_fast(joined, buckets)
    return outputs
