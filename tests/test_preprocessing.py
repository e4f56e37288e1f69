"""preprocessing_fn through real TFT on Beam, and its graph applied to edge cases."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from models import features as f
from tests.support import to_example


def _column(transformed, name):
    return np.array([row[name] for row in transformed])


def _apply(transform_dir, instances):
    """The saved TFT graph on raw instances, as serving applies it."""
    output = tft.TFTransformOutput(transform_dir)
    spec = {k: v for k, v in output.raw_feature_spec().items()}
    parsed = tf.io.parse_example([to_example(i, drop=()) for i in instances], spec)
    return {k: v.numpy() for k, v in output.transform_features_layer()(parsed).items()}


def test_label_is_tip_over_a_fifth_of_the_fare(raw_instances, tft_result):
    _, transformed = tft_result
    expected = [int(np.float32(r['tips'][0]) > np.float32(0.2) * np.float32(r['fare'][0]))
                for r in raw_instances]
    assert list(_column(transformed, f.LABEL_XF)) == expected
    assert 0 < sum(expected) < len(expected)


def test_numeric_features_are_standardized_logs(raw_instances, tft_result):
    _, transformed = tft_result
    for key in f.NUMERIC_FEATURES:
        present = [i for i, r in enumerate(raw_instances) if r[key]]
        values = _column(transformed, f.transformed_name(key))[present]
        assert abs(values.mean()) < 1e-3 and abs(values.std() - 1) < 1e-2, key
        logged = np.log1p([raw_instances[i][key][0] for i in present])
        assert np.corrcoef(values, logged)[0, 1] > 0.999, key


def test_missing_values_have_their_own_indices(raw_instances, tft_result):
    transform_dir, transformed = tft_result
    missing_company = [i for i, r in enumerate(raw_instances) if not r['company']]
    assert missing_company, 'the sample should contain trips without a company'
    vocabulary = tft.TFTransformOutput(transform_dir).vocabulary_by_name('company')
    missing_index = vocabulary.index(f.MISSING_TOKEN.encode())
    assert set(_column(transformed, 'company_xf')[missing_company]) == {missing_index}

    missing_dropoff = [i for i, r in enumerate(raw_instances) if not r['dropoff_latitude']]
    assert missing_dropoff
    assert set(_column(transformed, 'dropoff_cell_xf')[missing_dropoff]) == {f.GRID_CELLS - 1}
    missing_area = [i for i, r in enumerate(raw_instances) if not r['dropoff_community_area']]
    assert set(_column(transformed, 'dropoff_community_area_xf')[missing_area]) == {
        f.INTEGER_CATEGORICAL_FEATURES['dropoff_community_area']}


def test_serving_graph_handles_unseen_and_out_of_range_values(raw_instances, tft_result):
    transform_dir, transformed = tft_result
    row = dict(raw_instances[0])
    odd = {**row, 'trip_start_hour': [99], 'payment_type': [b'Bitcoin'], 'fare': []}
    out = _apply(transform_dir, [row, odd])

    for name in transformed[0]:
        assert np.allclose(out[name][0], transformed[0][name], atol=1e-5), name
    assert out['trip_start_hour_xf'][1] == f.INTEGER_CATEGORICAL_FEATURES['trip_start_hour']
    vocabulary_size = tft.TFTransformOutput(transform_dir).vocabulary_size_by_name('payment_type')
    assert vocabulary_size <= out['payment_type_xf'][1] < vocabulary_size + f.OOV_BUCKETS
    assert out['fare_xf'][1] == pytest.approx(0.0)   # missing -> the mean
    assert out[f.LABEL_XF][1] == 0                    # no fare -> not a big tip
