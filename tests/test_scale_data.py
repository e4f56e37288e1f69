"""The N-fold generator keeps the data valid and its distributions close."""

import glob

import pandas as pd
import tensorflow_data_validation as tfdv

from operations.data_scaling import write_scaled
from tests.support import DATA_CSV


def test_scaled_data_passes_the_curated_schema(schema, tmp_path):
    paths = write_scaled(DATA_CSV, 2, str(tmp_path))
    assert sorted(paths) == sorted(glob.glob(str(tmp_path / '*.csv')))
    statistics = tfdv.generate_statistics_from_csv(str(tmp_path / '*.csv'))
    anomalies = tfdv.validate_statistics(statistics, schema)
    assert not anomalies.anomaly_info, dict(anomalies.anomaly_info)
    source = tfdv.generate_statistics_from_csv(DATA_CSV)
    # Drift against the original, by the schema's own comparators.
    drift = tfdv.validate_statistics(statistics, schema, previous_statistics=source)
    assert not drift.anomaly_info, dict(drift.anomaly_info)


def test_rows_are_new_but_alike(tmp_path):
    original = pd.read_csv(DATA_CSV)
    [path] = write_scaled(DATA_CSV, 3, str(tmp_path), seed=1)
    grown = pd.read_csv(path)
    assert len(grown) == 3 * len(original)
    assert list(grown.columns) == list(original.columns)

    def big_tip_rate(df):
        return (df.tips > 0.2 * df.fare).mean()
    assert abs(big_tip_rate(grown) - big_tip_rate(original)) < 0.01
    assert abs(grown.fare.median() - original.fare.median()) / original.fare.median() < 0.05
    assert grown.isna().mean().sub(original.isna().mean()).abs().max() < 0.01
    # jittered: most fares are not copies of a source value
    assert (~grown.fare.isin(original.fare)).mean() > 0.5
    # integer columns are written as integers
    with open(path) as f:
        header, first = f.readline().strip().split(','), f.readline().strip().split(',')
    assert '.' not in first[header.index('trip_start_hour')]
