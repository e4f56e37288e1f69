"""Python values -> tf.train.Example, as clients (and warmup requests) build them,
as messages or straight to their serialized bytes (what a server feeds a model)."""

import struct
from typing import Any, Dict, Iterable, List, Mapping

import numpy as np
from tensorflow.core.example import example_pb2, feature_pb2

_INT64, _FLOAT, _BYTES = 'int64_list', 'float_list', 'bytes_list'


def _kind(values: List[Any]) -> str:
    """ints (and bools) -> int64_list, floats -> float_list, str/bytes -> bytes_list."""
    if values and all(isinstance(v, int) for v in values):
        return _INT64
    if values and all(isinstance(v, (int, float)) for v in values):
        return _FLOAT
    if all(isinstance(v, (str, bytes)) for v in values):
        return _BYTES
    raise ValueError(f'cannot make one feature of {values!r}: mixed or unsupported types')


def feature(values: Iterable[Any]) -> feature_pb2.Feature:
    """ints (and bools) -> int64_list, floats -> float_list, str/bytes -> bytes_list."""
    values = list(values)
    kind = _kind(values)
    if kind == _INT64:
        return feature_pb2.Feature(int64_list=feature_pb2.Int64List(value=values))
    if kind == _FLOAT:
        return feature_pb2.Feature(float_list=feature_pb2.FloatList(value=values))
    return feature_pb2.Feature(bytes_list=feature_pb2.BytesList(
        value=[v.encode() if isinstance(v, str) else v for v in values]))


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


# --- Straight to bytes ------------------------------------------------------------------
# example(features).SerializeToString() without the messages: each feature of a
# message costs a map entry and two message objects (~300 bytes, 13 us), so a
# request of one wide example took ~50x its size; its bytes are all the model needs.

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_ONE_FLOAT = b'\x12\x06\x0a\x04'       # float_list { value: [4 bytes, packed] }
_pack_float = struct.Struct('<f').pack
_KEYS: Dict[str, bytes] = {}           # a feature name's bytes in its map entry
_MOST_KEYS = 4096


def _varint(value: int) -> bytes:
    """A protobuf varint; a negative int64 as its 64-bit two's complement."""
    if 0 <= value < 0x80:
        return bytes((value,))
    value &= (1 << 64) - 1
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _delimited(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: its tag byte, its length, its bytes."""
    return tag + _varint(len(payload)) + payload


def _floats(values: List[Any]) -> bytes:
    try:
        return struct.pack(f'<{len(values)}f', *values)
    except OverflowError:             # past float32: infinite, as FloatList stores it
        with np.errstate(over='ignore'):
            return np.asarray(values, dtype=np.float64).astype('<f4').tobytes()


def _ints(values: List[int]) -> bytes:
    for value in values:
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f'Value out of range: {value}')
    return b''.join(_varint(int(value)) for value in values)


def _list_bytes(values: List[Any]) -> bytes:
    """The Feature of any list of values (numbers packed, as protobuf writes them)."""
    kind = _kind(values)
    if kind == _FLOAT:
        return _delimited(b'\x12', _delimited(b'\x0a', _floats(values)))
    if kind == _INT64:
        return _delimited(b'\x1a', _delimited(b'\x0a', _ints(values)) if values else b'')
    return _delimited(b'\x0a', b''.join(
        _delimited(b'\x0a', v.encode() if isinstance(v, str) else v) for v in values))


def serialized_feature(value: Any) -> bytes:
    """feature(value if a list or tuple, else [value]).SerializeToString(); one value of
    the common types without building a list."""
    kind = type(value)
    if kind is float:
        try:
            return _ONE_FLOAT + _pack_float(value)
        except OverflowError:
            return _list_bytes([value])
    if kind is str or kind is bytes:
        data = value.encode() if kind is str else value
        return _delimited(b'\x0a', _delimited(b'\x0a', data))
    if kind is int:
        return _delimited(b'\x1a', _delimited(b'\x0a', _ints([value])))
    return _list_bytes(list(value) if kind is list or kind is tuple else [value])


def _key(name: str) -> bytes:
    key = _KEYS.get(name)
    if key is None:
        key = _delimited(b'\x0a', name.encode())
        if len(_KEYS) < _MOST_KEYS:
            _KEYS[name] = key
    return key


def serialized(features: Mapping[str, Any]) -> bytes:
    """example(features).SerializeToString(), up to the order of the features (a map's
    order is not part of the format): written directly, without message objects."""
    entries = b''.join(
        _delimited(b'\x0a', _key(name) + _delimited(b'\x12', serialized_feature(value)))
        for name, value in features.items() if value is not None)
    return _delimited(b'\x0a', entries) if entries else b''
