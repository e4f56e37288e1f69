"""The curated schema accepts the embedded data and covers every model feature."""

import tensorflow_data_validation as tfdv

from models import features as f
from tests.support import DATA_CSV


def _model_inputs():
    coordinates = [key for pair in f.COORDINATES.values() for key in pair]
    return (f.NUMERIC_FEATURES + list(f.INTEGER_CATEGORICAL_FEATURES)
            + f.VOCABULARY_FEATURES + coordinates + [f.LABEL_KEY])


def test_embedded_data_has_no_anomalies(schema):
    statistics = tfdv.generate_statistics_from_csv(DATA_CSV)
    anomalies = tfdv.validate_statistics(statistics, schema)
    assert not anomalies.anomaly_info, dict(anomalies.anomaly_info)


def test_every_model_input_is_declared_without_a_shape(schema):
    declared = {feature.name: feature for feature in schema.feature}
    for name in _model_inputs():
        assert name in declared, name
        assert not declared[name].HasField('shape'), f'{name} must stay VarLen'


def test_label_is_not_expected_at_serving_time(schema):
    tips = tfdv.get_feature(schema, f.LABEL_KEY)
    assert list(tips.not_in_environment) == ['SERVING']
    assert set(schema.default_environment) == {'TRAINING', 'SERVING'}


def test_skew_and_drift_comparators_are_set(schema):
    for name in ('payment_type', 'company', 'trip_start_hour'):
        feature = tfdv.get_feature(schema, name)
        assert feature.skew_comparator.infinity_norm.threshold > 0, name
        assert feature.drift_comparator.infinity_norm.threshold > 0, name
    for name in f.NUMERIC_FEATURES:
        feature = tfdv.get_feature(schema, name)
        assert feature.skew_comparator.jensen_shannon_divergence.threshold > 0, name
