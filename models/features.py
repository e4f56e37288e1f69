"""The Chicago Taxi features and how each is treated, in one place.

preprocessing.py, model.py and the curated schema all follow these lists: a
feature added here is transformed, fed to the network and served.
"""

LABEL_KEY = 'tips'
FARE_KEY = 'fare'

# Skewed non-negative reals: log1p, then z-score; fare is also bucketized.
NUMERIC_FEATURES = ['fare', 'trip_miles', 'trip_seconds']
FARE_BUCKETS = 32

# Small integer codes used as indices; value = number of valid codes (0..n-1).
# A missing or out-of-range value gets its own index, n.
INTEGER_CATEGORICAL_FEATURES = {
    'trip_start_hour': 24,
    'trip_start_day': 8,
    'trip_start_month': 13,
    'pickup_community_area': 78,
    'dropoff_community_area': 78,
}

# Strings and large integer codes: a vocabulary learned by TFT, OOV buckets for
# unseen values; a missing value is a token of its own.
VOCABULARY_FEATURES = [
    'payment_type',
    'company',
    'pickup_census_tract',
    'dropoff_census_tract',
]
VOCABULARY_SIZE = 1000
OOV_BUCKETS = 10
MISSING_TOKEN = '__missing__'

# Coordinates: quantile buckets per axis (plus one for missing), combined into a
# grid cell per trip end.
COORDINATES = {
    'pickup': ('pickup_latitude', 'pickup_longitude'),
    'dropoff': ('dropoff_latitude', 'dropoff_longitude'),
}
COORDINATE_BUCKETS = 10
GRID_CELLS = (COORDINATE_BUCKETS + 1) ** 2

# Crosses of transformed features, hashed into buckets: a vocabulary would
# need the bucket boundaries first, i.e. a second TFT analysis pass.
CROSSES = {
    'payment_fare': (('payment_type', 'fare_bucket'), 1000),
    'pickup_dropoff': (('pickup_cell', 'dropoff_cell'), 5000),
}


def transformed_name(key: str) -> str:
    """The name of a feature after Transform (TFX's `_xf` convention)."""
    return key + '_xf'


LABEL_XF = transformed_name(LABEL_KEY)
