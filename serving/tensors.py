"""TensorProto <-> numpy, shaped and typed as TF Serving reads and writes them."""

import math
from typing import Optional, Sequence

import numpy as np
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from serving.errors import invalid_argument

# dtype enum -> (numpy dtype, TensorProto field holding the values)
_TYPES = {
    types_pb2.DT_FLOAT: (np.float32, 'float_val'),
    types_pb2.DT_DOUBLE: (np.float64, 'double_val'),
    types_pb2.DT_INT32: (np.int32, 'int_val'),
    types_pb2.DT_INT16: (np.int16, 'int_val'),
    types_pb2.DT_INT8: (np.int8, 'int_val'),
    types_pb2.DT_UINT8: (np.uint8, 'int_val'),
    types_pb2.DT_INT64: (np.int64, 'int64_val'),
    types_pb2.DT_BOOL: (np.bool_, 'bool_val'),
    types_pb2.DT_STRING: (object, 'string_val'),
}


def dtype_name(dtype: int) -> str:
    """'string', 'float'... as TensorFlow names types in its error messages."""
    return types_pb2.DataType.Name(dtype)[3:].lower()


def numpy_dtype(dtype: int):
    if dtype not in _TYPES:
        raise invalid_argument(f'Unsupported tensor dtype: {types_pb2.DataType.Name(dtype)}')
    return _TYPES[dtype][0]


def shape_of(proto: tensor_pb2.TensorProto) -> tuple:
    return tuple(d.size for d in proto.tensor_shape.dim)


def _decoded_bytes(values: np.ndarray, count: int) -> int:
    """What `count` elements like values take once decoded (strings: their bytes)."""
    if values.dtype == object:
        per_element = max((len(v) for v in values), default=0) + 8
    else:
        per_element = values.dtype.itemsize
    return count * per_element


def to_ndarray(proto: tensor_pb2.TensorProto, max_bytes: Optional[int] = None,
               name: str = 'tensor') -> np.ndarray:
    """The tensor's values, from tensor_content or the typed value field.

    The shape must agree with the values sent: as many as it has elements, or one
    that fills them all (as TensorFlow reads a TensorProto) - and then, with
    max_bytes, the filled tensor may not decode to more than that, so a small
    request cannot ask for a huge allocation."""
    dtype, field = _TYPES.get(proto.dtype, (None, None))
    if dtype is None:
        raise invalid_argument(f'Unsupported tensor dtype: {types_pb2.DataType.Name(proto.dtype)}')
    shape = shape_of(proto)
    if any(d < 0 for d in shape):
        raise invalid_argument(f'Tensor shape must be fully defined: {list(shape)}')
    count = math.prod(shape)
    if proto.tensor_content:
        if proto.dtype == types_pb2.DT_STRING:
            raise invalid_argument('tensor_content is not supported for DT_STRING')
        values = np.frombuffer(proto.tensor_content, dtype=dtype)
    elif proto.dtype == types_pb2.DT_STRING:
        values = np.empty(len(proto.string_val), dtype=object)
        values[:] = list(proto.string_val)
    else:
        values = np.asarray(getattr(proto, field), dtype=dtype)
    if values.size == 1 and count > 1:
        if max_bytes is not None and _decoded_bytes(values, count) > max_bytes:
            raise invalid_argument(
                f'Input {name}: shape {list(shape)} asks for {count} elements from the 1 value '
                f'sent, {_decoded_bytes(values, count)} bytes decoded, more than the '
                f'{max_bytes} a request may take')
        values = np.repeat(values, count)  # a single value fills the tensor, as in TF
    if values.size != count:
        raise invalid_argument(
            f'Input {name}: tensor proto has {values.size} values but shape {list(shape)} '
            f'needs {count}')
    return values.reshape(shape)


def to_proto(array: np.ndarray, dtype: int) -> tensor_pb2.TensorProto:
    """An output as TF Serving's gRPC Predict returns it: values in the typed field."""
    proto = tensor_pb2.TensorProto(
        dtype=dtype,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in array.shape]))
    getattr(proto, _TYPES[dtype][1]).extend(array.ravel().tolist())
    return proto


def strings_proto(values: Sequence[bytes]) -> tensor_pb2.TensorProto:
    """A rank-1 DT_STRING tensor, e.g. serialized tf.Examples for `examples`."""
    proto = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=len(values))]))
    proto.string_val.extend(values)
    return proto
