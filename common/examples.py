"""Python values -> tf.train.Example, as clients (and warmup requests) build them."""

from typing import Any, Dict, Iterable, Mapping

from tensorflow.core.example import example_pb2, feature_pb2


def feature(values: Iterable[Any]) -> feature_pb2.Feature:
    """ints (and bools) -> int64_list, floats -> float_list, str/bytes -> bytes_list."""
    values = list(values)
    if values and all(isinstance(v, int) for v in values):
        return feature_pb2.Feature(int64_list=feature_pb2.Int64List(value=values))
    if values and all(isinstance(v, (int, float)) for v in values):
        return feature_pb2.Feature(float_list=feature_pb2.FloatList(value=values))
    if all(isinstance(v, (str, bytes)) for v in values):
        return feature_pb2.Feature(bytes_list=feature_pb2.BytesList(
            value=[v.encode() if isinstance(v, str) else v for v in values]))
    raise ValueError(f'cannot make one feature of {values!r}: mixed or unsupported types')


def example(features: Mapping[str, Any]) -> example_pb2.Example:
    """One Example; a value may be a scalar or a list; None leaves the feature out."""
    result = example_pb2.Example()
    for name, value in features.items():
        if value is None:
            continue
        result.features.feature[name].CopyFrom(
            feature(value if isinstance(value, (list, tuple)) else [value]))
    return result


def typed(row: Mapping[str, str], types: Dict[str, type]) -> Dict[str, Any]:
    """A CSV row (all strings) typed per feature; empty cells and unknown columns dropped."""
    return {name: types[name](float(text)) if types[name] is int else types[name](text)
            for name, text in row.items() if name in types and text != ''}
