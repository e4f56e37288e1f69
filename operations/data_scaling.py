"""Grows the taxi data N-fold for scale tests: rows resampled with replacement,
numeric fields jittered so values are new but distributions stay plausible.

Fares, miles and seconds get a multiplicative jitter (about 5%); tips follow
the fare, so the label (tips > 20% of fare) keeps its rate; coordinates move a
few hundred metres within Chicago; categories, times and gaps are kept. Rows go
to several CSV files, as a sharded export would produce.
"""

import os
from typing import List

import numpy as np
import pandas as pd

INTEGER_COLUMNS = ['pickup_community_area', 'dropoff_community_area', 'trip_start_month',
                   'trip_start_hour', 'trip_start_day', 'trip_start_timestamp',
                   'pickup_census_tract', 'dropoff_census_tract', 'trip_seconds']
LATITUDE = (41.5, 42.2)
LONGITUDE = (-88.1, -87.4)
ROWS_PER_FILE = 150_000


def _jitter(values: pd.Series, rng: np.random.Generator, sigma: float = 0.05) -> pd.Series:
    return values * np.exp(rng.normal(0, sigma, len(values)))


def grow(source: pd.DataFrame, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """`rows` new rows drawn from source, jittered."""
    df = source.iloc[rng.integers(0, len(source), rows)].reset_index(drop=True)
    fare = _jitter(df['fare'], rng).round(2)
    scale = np.where(df['fare'] > 0, fare / df['fare'].where(df['fare'] > 0, 1), 1.0)
    df['tips'] = (df['tips'] * scale).round(2)
    df['fare'] = fare
    df['trip_miles'] = _jitter(df['trip_miles'], rng).round(2)
    df['trip_seconds'] = _jitter(df['trip_seconds'], rng).round()
    for column, (low, high) in (('pickup_latitude', LATITUDE), ('dropoff_latitude', LATITUDE),
                                ('pickup_longitude', LONGITUDE), ('dropoff_longitude', LONGITUDE)):
        df[column] = (df[column] + rng.normal(0, 0.002, rows)).clip(low, high).round(6)
    for column in INTEGER_COLUMNS:   # integers stay integers ("17", not "17.0"), gaps stay empty
        df[column] = df[column].round().astype('Int64')
    return df


def write_scaled(source_csv: str, factor: int, output_dir: str, seed: int = 0) -> List[str]:
    """Writes factor x the source's rows as CSV files in output_dir; returns their paths."""
    source = pd.read_csv(source_csv)
    rng = np.random.default_rng(seed)
    os.makedirs(output_dir, exist_ok=True)
    total, paths = len(source) * factor, []
    files = -(-total // ROWS_PER_FILE)
    per_file = np.full(files, total // files) + (np.arange(files) < total % files)
    for index, rows in enumerate(per_file):
        part = grow(source, int(rows), rng)
        path = os.path.join(output_dir, f'data-{index:05d}.csv')
        part.to_csv(path, index=False)
        paths.append(path)
    return paths
