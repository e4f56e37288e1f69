"""TensorProto <-> numpy, shaped and typed as TF Serving reads and writes them."""

import math
from typing import Optional, Sequence, Tuple

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


# numpy's limit on dimensions (TensorFlow's is higher); and a bound on the product of a
# shape's dimensions (zeros left out) that no real tensor comes near: past it numpy
# cannot even describe an empty array of that shape.
MAX_DIMS = 32
MAX_DIMS_PRODUCT = 1 << 48


def _type_name(dtype: int) -> str:
    """DT_FLOAT...; a number that names no type (a client's 9999) as itself."""
    try:
        return types_pb2.DataType.Name(dtype)
    except ValueError:
        return f'DataType {dtype}'


def dtype_name(dtype: int) -> str:
    """'string', 'float'... as TensorFlow names types in its error messages."""
    name = _type_name(dtype)
    return name[3:].lower() if name.startswith('DT_') else name


def numpy_dtype(dtype: int):
    if dtype not in _TYPES:
        raise invalid_argument(f'Unsupported tensor dtype: {_type_name(dtype)}')
    return _TYPES[dtype][0]


def shape_of(proto: tensor_pb2.TensorProto, name: str = 'tensor') -> tuple:
    """The declared shape, checked: at most MAX_DIMS dimensions, none negative, and a
    product that numpy and TensorFlow can hold."""
    dims = proto.tensor_shape.dim
    if len(dims) > MAX_DIMS:
        raise invalid_argument(f'Input {name}: {len(dims)} dimensions, more than the '
                               f'{MAX_DIMS} supported')
    shape = tuple(d.size for d in dims)
    if any(d < 0 for d in shape):
        raise invalid_argument(f'Tensor shape must be fully defined: {list(shape)}')
    if math.prod(d for d in shape if d) > MAX_DIMS_PRODUCT:
        raise invalid_argument(f'Input {name}: shape {list(shape)} is too large for a tensor')
    return shape


def _value_count(proto: tensor_pb2.TensorProto, name: str) -> int:
    """How many values the proto carries, without decoding them."""
    if not proto.tensor_content:
        return len(getattr(proto, _TYPES[proto.dtype][1]))
    if proto.dtype == types_pb2.DT_STRING:
        raise invalid_argument('tensor_content is not supported for DT_STRING')
    itemsize = np.dtype(_TYPES[proto.dtype][0]).itemsize
    if len(proto.tensor_content) % itemsize:
        raise invalid_argument(f'Input {name}: tensor_content of {len(proto.tensor_content)} '
                               f'bytes is not a whole number of {itemsize}-byte values')
    return len(proto.tensor_content) // itemsize


def _filled_bytes(proto: tensor_pb2.TensorProto, count: int) -> int:
    """What `count` elements like the proto's single value take once decoded."""
    if proto.dtype == types_pb2.DT_STRING:
        return count * (len(proto.string_val[0]) + 8)
    return count * np.dtype(_TYPES[proto.dtype][0]).itemsize


def check_values(proto: tensor_pb2.TensorProto, max_bytes: Optional[int] = None,
                 name: str = 'tensor') -> Tuple[int, ...]:
    """The declared shape; INVALID_ARGUMENT unless the values sent agree with it: as
    many as it has elements, or one that fills them all (as TensorFlow reads a
    TensorProto) - and then, with max_bytes, the filled tensor may not decode to more
    than that, so a small request cannot ask for a huge allocation. Cheap: nothing is
    decoded."""
    numpy_dtype(proto.dtype)
    shape = shape_of(proto, name)
    count = math.prod(shape)
    sent = _value_count(proto, name)
    if sent == 1 and count > 1:
        if max_bytes is not None and _filled_bytes(proto, count) > max_bytes:
            raise invalid_argument(
                f'Input {name}: shape {list(shape)} asks for {count} elements from the 1 value '
                f'sent, {_filled_bytes(proto, count)} bytes decoded, more than the '
                f'{max_bytes} a request may take')
    elif sent != count:
        raise invalid_argument(
            f'Input {name}: tensor proto has {sent} values but shape {list(shape)} '
            f'needs {count}')
    return shape


def to_ndarray(proto: tensor_pb2.TensorProto, max_bytes: Optional[int] = None,
               name: str = 'tensor', shape: Optional[Tuple[int, ...]] = None) -> np.ndarray:
    """The tensor's values, from tensor_content or the typed value field, once
    check_values has passed them (`shape`: what it returned, if the caller checked)."""
    if shape is None:
        shape = check_values(proto, max_bytes, name)
    dtype, field = _TYPES[proto.dtype]
    count = math.prod(shape)
    values: np.ndarray
    if proto.tensor_content:
        values = np.frombuffer(proto.tensor_content, dtype=dtype)
    elif proto.dtype == types_pb2.DT_STRING:
        values = np.empty(len(proto.string_val), dtype=object)
        values[:] = list(proto.string_val)
    else:
        values = np.asarray(getattr(proto, field), dtype=dtype)
    if values.size == 1 and count > 1:
        values = np.repeat(values, count)  # a single value fills the tensor, as in TF
    return values.reshape(shape)


def to_proto(array: np.ndarray, dtype: int,
             into: Optional[tensor_pb2.TensorProto] = None) -> tensor_pb2.TensorProto:
    """An output as TF Serving's gRPC Predict returns it: values in the typed field
    (written into `into`, a response's own TensorProto, if given)."""
    proto = tensor_pb2.TensorProto() if into is None else into
    proto.dtype = dtype
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
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
