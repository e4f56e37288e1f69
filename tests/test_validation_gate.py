"""The gate's message names each anomalous feature and the kind of anomaly."""

from tensorflow_metadata.proto.v0 import anomalies_pb2

from pipeline.validation_gate import describe


def _anomalies(**features):
    anomalies = anomalies_pb2.Anomalies()
    for name, (kind, text) in features.items():
        info = anomalies.anomaly_info[name]
        info.short_description = text
        info.reason.add(type=anomalies_pb2.AnomalyInfo.Type.Value(kind), short_description=text)
    return anomalies


def test_describe_names_features_and_kinds_sorted():
    text = describe(_anomalies(
        payment_type=('ENUM_TYPE_UNEXPECTED_STRING_VALUES', 'Unexpected string values'),
        fare=('FLOAT_TYPE_SMALL_FLOAT', 'Out-of-range values')))
    assert text == ('fare: FLOAT_TYPE_SMALL_FLOAT (Out-of-range values); '
                    'payment_type: ENUM_TYPE_UNEXPECTED_STRING_VALUES (Unexpected string values)')


def test_describe_is_empty_without_anomalies():
    assert describe(anomalies_pb2.Anomalies()) == ''


def test_describe_reports_dataset_level_anomalies():
    anomalies = anomalies_pb2.Anomalies()
    anomalies.dataset_anomaly_info.short_description = 'Low num examples in dataset.'
    assert describe(anomalies) == '<dataset>: Low num examples in dataset.'


def test_the_summary_fits_many_anomalies_on_one_line():
    from pipeline.validation_gate import DataAnomaliesError
    train = _anomalies(**{f'feature_{i}': ('FLOAT_TYPE_SMALL_FLOAT', 'Out-of-range values')
                          for i in range(8)})
    empty = anomalies_pb2.Anomalies(data_missing=True)
    error = DataAnomaliesError({'train': train, 'eval': empty})
    summary = error.summary()
    assert summary == ('splits eval, train: <dataset>: DATA_MISSING; '
                       'feature_0: FLOAT_TYPE_SMALL_FLOAT; feature_1: FLOAT_TYPE_SMALL_FLOAT; '
                       'feature_2: FLOAT_TYPE_SMALL_FLOAT; feature_3: FLOAT_TYPE_SMALL_FLOAT; '
                       'and 4 more')
    assert 'feature_7: FLOAT_TYPE_SMALL_FLOAT (Out-of-range values)' in str(error)
    assert 'split eval: <dataset>: DATA_MISSING (no examples)' in str(error)
