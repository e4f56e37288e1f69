"""CsvExampleGen with a vectorised executor: the same component (spec, driver, id,
artifacts, split), its rows read by Arrow and encoded by tfx-bsl's C++ encoder.

TFX's own executor builds every tf.train.Example cell by cell in Python and moves
each parsed row between Beam stages (its column types are a global combine fed
back as a side input): about 280 us a row. Here Beam moves file names only:

1. per file, each column's type by TFX's rule (csv_decoder.ColumnTypeInferrer:
   the highest of its values' types, UNKNOWN < INT < FLOAT < STRING), in Arrow;
   the types of a split are the highest over its files;
2. per file, the columns cast to those types in Arrow, encoded to Examples by
   tfx-bsl's RecordBatchToExamplesEncoder, hashed into splits as TFX does, and
   written to one gzipped TFRecord shard per split.

The Examples are byte for byte what TFX's executor hashes (its Examples
serialized deterministically: features in key order), so the split is TFX's.
One difference: the header's names are kept as written (TFX strips the line, so
spaces after the last name, or before the first, went silently while the same
on any other name made a column the schema does not know).
"""

import bisect
import csv
import hashlib
import os
from typing import Any, Dict, Iterable, List, Sequence, Tuple, TypeAlias

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from absl import logging
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen import write_split
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.components.example_gen.csv_example_gen import component as csv_component
from tfx.components.util import examples_utils
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils
from tfx_bsl.coders import csv_decoder, example_coder

from common import csv_header

ColumnType: TypeAlias = csv_decoder.ColumnType

# Values of these forms parse the same in Arrow as in Python's int() / float():
# up to 18 digits (always within int64), and decimals or exponents (never ints).
# Any other value ('+5', ' 5', '1_000', 'nan', 19 digits...) goes to tfx-bsl's
# own per-value rule.
_PLAIN_INT = r'^-?[0-9]{1,18}$'
_PLAIN_FLOAT = r'^-?([0-9]+\.[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$|^-?[0-9]+[eE][+-]?[0-9]+$'
_ARROW_TYPES = {ColumnType.INT: pa.int64(), ColumnType.FLOAT: pa.float64()}
_PYTHON_CASTS = {ColumnType.INT: int, ColumnType.FLOAT: float}
_FLOAT32_MAX = np.finfo(np.float32).max
_BLOCK_BYTES = 4 << 20
_NO_SEPARATOR = pa.scalar(b'', pa.large_binary())
SHARD_NAME = write_split.DEFAULT_TF_RECORD_FILE_NAME + '-{index:05d}-of-{count:05d}.gz'


def column_names(path: str) -> List[str]:
    """The header: the first line split at commas, every name as written (TFX's
    executor strips the line, so the first and last names lost their padding)."""
    with fileio.open(path) as f:
        return csv_header.names(f.readline())


def _source(path: str):
    """A local path as it is (Arrow reads it natively), else a Beam file handle (gs://...)."""
    if '://' not in path:
        return path
    return beam.io.filesystems.FileSystems.open(
        path, compression_type=beam.io.filesystem.CompressionTypes.UNCOMPRESSED)


def read_blocks(path: str, names: Sequence[str]) -> Iterable[pa.RecordBatch]:
    """The rows after the header line, every cell a string ('' when empty), in blocks:
    quoted commas and newlines, CRLF, blank lines skipped; not UTF-8 and rows of
    the wrong width are errors, as in TFX's executor, and so are fields over
    Python's CSV field limit, which TFX's reader does not get past."""
    try:
        reader = pa_csv.open_csv(
            _source(path),
            read_options=pa_csv.ReadOptions(column_names=list(names), skip_rows=1,
                                            block_size=_BLOCK_BYTES),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in names}, null_values=[],
                strings_can_be_null=False, quoted_strings_can_be_null=False))
    except pa.ArrowInvalid as error:
        if _header_only(path):      # no line end after the header: Arrow cannot skip it
            return
        raise ValueError(f'{path}: {error}') from error
    for block in reader:
        if block.num_rows:
            _check_field_sizes(block)
            yield block


def _header_only(path: str) -> bool:
    with fileio.open(path, 'rb') as f:
        f.readline()
        return not f.read(1)


def _check_field_sizes(block: pa.RecordBatch) -> None:
    """Refuses what TFX's reader refuses: a field over Python's CSV field limit."""
    limit = csv.field_size_limit()
    for values in block.columns:
        longest = pc.max(pc.utf8_length(values)).as_py() or 0
        if longest > limit:
            raise ValueError(f'CSV field of {longest} characters, over the {limit} that '
                             "TFX's CSV reader takes")


def _nonempty(values: pa.Array) -> pa.BooleanArray:
    return pc.greater(pc.binary_length(values), 0)


def _as_bytes(values: pa.Array) -> Iterable[bytes]:
    """The values as TFX's executor sees them (UTF-8 bytes), a slice at a time."""
    values = values.cast(pa.binary())
    for start in range(0, len(values), 1024):
        yield from values.slice(start, 1024).to_pylist()


def column_type(values: pa.Array) -> ColumnType:
    """TFX's type for a column: the highest of its values' types. Plain numbers
    are told apart in Arrow; the other values one by one by tfx-bsl's rule,
    stopping at the first STRING."""
    filled = pc.filter(values, _nonempty(values))
    if len(filled) == 0:
        return ColumnType.UNKNOWN
    is_int = pc.match_substring_regex(filled, _PLAIN_INT)
    is_float = pc.match_substring_regex(filled, _PLAIN_FLOAT)
    found = ColumnType.INT if pc.any(is_int).as_py() else ColumnType.UNKNOWN
    if pc.any(is_float).as_py():
        found = ColumnType.FLOAT
    others = pc.filter(filled, pc.invert(pc.or_(is_int, is_float)))
    for value in _as_bytes(others):
        found = max(found, csv_decoder._InferValueType(value))  # pylint: disable=protected-access
        if found == ColumnType.STRING:
            break
    return found


def file_column_types(path: str, names: Sequence[str]) -> List[int]:
    """TFX's column types over one file's rows."""
    found = [ColumnType.UNKNOWN] * len(names)
    for block in read_blocks(path, names):
        for index, values in enumerate(block.columns):
            if found[index] != ColumnType.STRING:
                found[index] = max(found[index], column_type(values))
    return [int(kind) for kind in found]


def merge_column_types(per_file: Iterable[Sequence[int]]) -> List[int]:
    """The types of a split: per column, the highest over its files."""
    merged: List[int] = []
    for types in per_file:
        merged = list(types) if not merged else [
            max(a, b) for a, b in zip(merged, types, strict=True)]
    return merged


def _numbers(values: pa.Array, kind: ColumnType) -> np.ndarray:
    """Non-empty cells of an INT or FLOAT column as int64 / float64: plain numbers
    cast in Arrow, the others by Python's int() / float() as TFX's executor does."""
    plain = pc.match_substring_regex(values, _PLAIN_INT)
    if kind == ColumnType.FLOAT:
        plain = pc.or_(plain, pc.match_substring_regex(values, _PLAIN_FLOAT))
    plain = plain.to_numpy(zero_copy_only=False)
    numbers = np.empty(len(values), dtype=_ARROW_TYPES[kind].to_pandas_dtype())
    numbers[plain] = pc.cast(values.filter(pa.array(plain)), _ARROW_TYPES[kind]).to_numpy()
    others = np.flatnonzero(~plain)
    if len(others):
        cast = _PYTHON_CASTS[kind]
        numbers[others] = [cast(value) for value in _as_bytes(values.take(pa.array(others)))]
    return numbers


def _to_float32(numbers: np.ndarray) -> np.ndarray:
    """float64 to float32 as a FloatList stores Python floats (too large: infinite)."""
    with np.errstate(over='ignore'):
        narrowed = numbers.astype(np.float32)
    narrowed[numbers > _FLOAT32_MAX] = np.inf
    narrowed[numbers < -_FLOAT32_MAX] = -np.inf
    return narrowed


def feature_values(values: pa.Array, kind: ColumnType) -> pa.Array:
    """A string column as the value lists of its feature: one value a cell, none for
    an empty cell, no feature kind at all in a column without values (TFX's
    executor writes tf.train.Feature() there)."""
    if kind == ColumnType.UNKNOWN:
        return pa.nulls(len(values), pa.large_list(pa.int64()))
    filled = _nonempty(values)
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(filled.to_numpy(zero_copy_only=False), out=offsets[1:])
    cells = values.filter(filled)
    if kind == ColumnType.STRING:
        flat = cells.cast(pa.large_binary())
    elif kind == ColumnType.INT:
        flat = pa.array(_numbers(cells, kind))
    else:
        flat = pa.array(_to_float32(_numbers(cells, kind)))
    return pa.LargeListArray.from_arrays(pa.array(offsets), flat)


def _varint_size(values: np.ndarray) -> np.ndarray:
    size = np.ones(len(values), dtype=np.int64)
    for bits in (7, 14, 21, 28, 35):
        size += values >= (1 << bits)
    return size


def _binary_array(sizes: np.ndarray, data: np.ndarray) -> pa.Array:
    offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return pa.Array.from_buffers(pa.large_binary(), len(sizes),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _map_entries(encoded: List[bytes]) -> Tuple[pa.Array, np.ndarray]:
    """(map entries, their sizes) from Examples of one feature each: an Example is
    field 1 (Features, length-delimited) around Features' one map entry (field 1
    again), so the entry is what follows the first tag and length varint."""
    array = pa.array(encoded, type=pa.large_binary())
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[:len(array) + 1]
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)[:offsets[-1]]
    totals = np.diff(offsets)
    entry = np.zeros(len(totals), dtype=np.int64)
    for size in range(2, 7):          # a tag byte and a varint of 1 to 5 bytes
        candidate = totals - size
        fits = (entry == 0) & (candidate >= 0) & (_varint_size(candidate) == size - 1)
        entry[fits] = candidate[fits]
    keep = np.ones(len(data), dtype=bool)
    prefix = totals - entry
    starts = offsets[:-1]
    for byte in range(int(prefix.max(initial=0))):
        keep[(starts + byte)[prefix > byte]] = False
    return _binary_array(entry, data[keep]), entry


def _headers(sizes: np.ndarray) -> pa.Array:
    """Each Example's first bytes: field 1 (Features) as a tag and a length varint."""
    length = _varint_size(sizes)
    width = int(length.max(initial=1))
    table = np.zeros((len(sizes), 1 + width), dtype=np.uint8)
    table[:, 0] = 0x0a
    for byte in range(width):
        septet = (sizes >> (7 * byte)) & 0x7f
        table[:, 1 + byte] = septet | np.where(byte < length - 1, 0x80, 0)
    keep = np.arange(1 + width)[None, :] < (1 + length)[:, None]
    return _binary_array(1 + length, table[keep])


def encode_examples(batch: pa.RecordBatch) -> pa.Array:
    """Serialized tf.train.Examples, one a row, as TFX serializes them deterministically
    (features in key order). tfx-bsl's C++ encoder writes a row's features in the order
    of a hash map; encoded one column at a time, each row's map entries are put in
    key order here."""
    encoder = example_coder.RecordBatchToExamplesEncoder()
    entries, total = [], np.zeros(batch.num_rows, dtype=np.int64)
    for name in sorted(batch.schema.names):
        column = pa.RecordBatch.from_arrays([batch.column(name)], [name])
        entry, sizes = _map_entries(encoder.encode(column))
        entries.append(entry)
        total += sizes
    return pc.binary_join_element_wise(_headers(total), *entries, _NO_SEPARATOR)


def bucket_ends(output_config: example_gen_pb2.Output) -> List[int]:
    """The splits' cumulative hash buckets, as TFX's partition takes them."""
    ends, total = [], 0
    for split in output_config.split_config.splits:
        total += split.hash_buckets
        ends.append(total)
    return ends


def split_of(example: bytes, ends: Sequence[int]) -> int:
    """TFX's partition of an Example: SHA-256 of its bytes modulo all buckets."""
    bucket = int(hashlib.sha256(example).hexdigest(), 16) % ends[-1]
    return bisect.bisect(ends, bucket)


def file_examples(path: str, names: Sequence[str],
                  types: Sequence[int]) -> Iterable[List[bytes]]:
    """A file's rows as serialized Examples, a block at a time."""
    for block in read_blocks(path, names):
        columns = [feature_values(values, ColumnType(kind))
                   for values, kind in zip(block.columns, types, strict=True)]
        yield encode_examples(pa.RecordBatch.from_arrays(columns, list(names))).to_pylist()


def write_shard(path: str, names: Sequence[str], types: Sequence[int],
                split_dirs: Sequence[str], ends: Sequence[int], shard: str) -> List[int]:
    """Writes a file's Examples to the shard file `shard` of each split (by TFX's hash
    when there are several splits); returns how many went to each."""
    import tensorflow as tf  # its TFRecord writer: C++, gzip, any TF filesystem
    options = tf.io.TFRecordOptions(compression_type='GZIP')
    writers = [tf.io.TFRecordWriter(os.path.join(directory, shard), options)
               for directory in split_dirs]
    counts = [0] * len(writers)
    try:
        for examples in file_examples(path, names, types):
            for example in examples:
                index = split_of(example, ends) if len(writers) > 1 else 0
                writers[index].write(example)
                counts[index] += 1
    finally:
        for writer in writers:
            writer.close()
    return counts


class _FileColumnTypes(beam.DoFn):
    def __init__(self, names: Sequence[str]):
        self._names = list(names)

    def process(self, path: str):
        yield file_column_types(path, self._names)


class _WriteShard(beam.DoFn):
    def __init__(self, names: Sequence[str], split_dirs: Sequence[str], ends: Sequence[int],
                 count: int):
        self._names, self._split_dirs = list(names), list(split_dirs)
        self._ends, self._count = list(ends), count

    def process(self, indexed_path: Tuple[int, str], types: List[int]):
        index, path = indexed_path
        shard = SHARD_NAME.format(index=index, count=self._count)
        counts = write_shard(path, self._names, types, self._split_dirs, self._ends, shard)
        logging.info('%s: %s examples', path, counts)


def split_files(input_base: str, pattern: str) -> Tuple[List[str], List[str]]:
    """(the files of an input split, their header): TFX's executor's errors for no
    files and differing headers; a header naming a column twice refused."""
    files = sorted(fileio.glob(os.path.join(input_base, pattern)))
    if not files:
        raise RuntimeError(f'Split pattern {os.path.join(input_base, pattern)} does not '
                           'match any files.')
    names = column_names(files[0])
    repeated = csv_header.repeated_names(names)
    if repeated:
        raise ValueError(f'{files[0]}: {csv_header.describe_repeated(repeated)}')
    for path in files[1:]:
        if column_names(path) != names:
            raise RuntimeError(f'Files in same split {os.path.join(input_base, pattern)} '
                               'have different header.')
    return files, names


def write_split_files(pipeline: beam.Pipeline, label: str, files: Sequence[str],
                      names: Sequence[str], split_dirs: Sequence[str],
                      ends: Sequence[int]) -> None:
    """Adds to the pipeline: the input split's column types over its files, then one
    shard per file and output split."""
    types = beam.pvalue.AsSingleton(
        pipeline
        | f'Files[{label}]' >> beam.Create(list(files))
        | f'ColumnTypes[{label}]' >> beam.ParDo(_FileColumnTypes(names))
        | f'SplitColumnTypes[{label}]' >> beam.CombineGlobally(merge_column_types))
    _ = (pipeline
         | f'Shards[{label}]' >> beam.Create(list(enumerate(files)))
         | f'WriteShards[{label}]' >> beam.ParDo(
             _WriteShard(names, split_dirs, ends, len(files)), types))


class Executor(BaseExampleGenExecutor):
    """CsvExampleGen's executor: TFX's output (layout, payload, split), Arrow's reading."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        raise NotImplementedError('Do() reads and writes the splits itself')

    def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
           exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        input_config = proto_utils.json_to_proto(
            exec_properties[standard_component_specs.INPUT_CONFIG_KEY], example_gen_pb2.Input())
        output_config = proto_utils.json_to_proto(
            exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY],
            example_gen_pb2.Output())
        payload = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
        check_supported(payload, output_config)
        examples = output_dict[standard_component_specs.EXAMPLES_KEY]
        split_dirs = make_split_dirs(examples, input_config, output_config)
        input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        with self._make_beam_pipeline() as pipeline:
            write_splits(pipeline, input_base, input_config, output_config, split_dirs)
        record_formats(examples, payload,
                       exec_properties.get(standard_component_specs.OUTPUT_FILE_FORMAT_KEY))
        logging.info('Examples generated.')


def check_supported(payload: Any, output_config: example_gen_pb2.Output) -> None:
    """Refuses the outputs this executor does not write (TFX's executor does)."""
    if payload and payload != example_gen_pb2.FORMAT_TF_EXAMPLE:
        raise ValueError('this CsvExampleGen writes tf.train.Example only (FORMAT_TF_EXAMPLE)')
    if output_config.split_config.HasField('partition_feature_name'):
        raise ValueError('this CsvExampleGen splits by hash of the whole Example only '
                         '(no partition_feature_name)')


def make_split_dirs(examples: List[Any], input_config: example_gen_pb2.Input,
                    output_config: example_gen_pb2.Output) -> List[str]:
    """The output splits' directories, made; their names set on the artifact."""
    split_names = example_gen_utils.generate_output_split_names(input_config, output_config)
    artifact_utils.get_single_instance(examples).split_names = \
        artifact_utils.encode_split_names(split_names)
    split_dirs = [artifact_utils.get_split_uri(examples, name) for name in split_names]
    for directory in split_dirs:
        fileio.makedirs(directory)
    return split_dirs


def write_splits(pipeline: beam.Pipeline, input_base: str, input_config: example_gen_pb2.Input,
                 output_config: example_gen_pb2.Output, split_dirs: Sequence[str]) -> None:
    """Adds the writing of every output split: one input split hashed into the output
    splits, or each input split to its own."""
    if output_config.split_config.splits:
        [split] = input_config.splits
        files, names = split_files(input_base, split.pattern)
        write_split_files(pipeline, split.name, files, names, split_dirs,
                          bucket_ends(output_config))
        return
    for split, directory in zip(input_config.splits, split_dirs, strict=True):
        files, names = split_files(input_base, split.pattern)
        write_split_files(pipeline, split.name, files, names, [directory], [1])


def record_formats(examples: List[Any], payload: Any, file_format: Any) -> None:
    """The payload and file formats on the artifacts, as TFX's executor records them."""
    for artifact in examples:
        if payload:
            examples_utils.set_payload_format(artifact, payload)
        if file_format:
            examples_utils.set_file_format(artifact, write_split.to_file_format_str(file_format))


class CsvExampleGen(csv_component.CsvExampleGen):
    """TFX's CsvExampleGen (spec, driver, id 'CsvExampleGen', outputs) with the executor above."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
