"""The vectorised CsvExampleGen executor against TFX's own: the same Examples in the
same splits, on the embedded data and on CSV quirks, and the same failures."""

import glob
import json
import os

import pytest

import common.bootstrap  # noqa: F401  (first: the environment before TensorFlow loads)
from pipeline.config import DEFAULT_DATA_ROOT

BEAM_ARGS = ['--direct_running_mode=in_memory', '--direct_num_workers=1']


def run_executor(executor_class, input_base, output_dir, splits=(('train', 2), ('eval', 1)),
                 pattern='*.csv', beam_args=BEAM_ARGS):
    """Runs an ExampleGen executor as TFX does; {split: [Example, ...]} in file order."""
    from tfx.proto import example_gen_pb2
    from tfx.types import standard_artifacts
    from tfx.utils import proto_utils
    examples = standard_artifacts.Examples()
    examples.uri = str(output_dir)
    output_config = example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
        example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=buckets)
        for name, buckets in splits]))
    exec_properties = {
        'input_base': str(input_base),
        'input_config': proto_utils.proto_to_json(example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name='single_split', pattern=pattern)])),
        'output_config': proto_utils.proto_to_json(output_config),
        'output_data_format': example_gen_pb2.FORMAT_TF_EXAMPLE,
        'output_file_format': example_gen_pb2.FORMAT_TFRECORDS_GZIP,
    }
    executor_class(executor_class.Context(beam_pipeline_args=beam_args)).Do(
        {}, {'examples': [examples]}, exec_properties)
    return examples, {name: read_split(examples.uri, name) for name, _ in splits}


def read_split(uri, split):
    import tensorflow as tf
    files = sorted(glob.glob(os.path.join(uri, f'Split-{split}', '*.gz')))
    return [bytes(record.numpy())
            for record in tf.data.TFRecordDataset(files, compression_type='GZIP')]


def deterministic(records):
    """Records as TFX hashes them: parsed, serialized deterministically; sorted."""
    import tensorflow as tf
    return sorted(tf.train.Example.FromString(record).SerializeToString(deterministic=True)
                  for record in records)


def both(input_base, tmp_path, **kwargs):
    """(stock splits, ours) on the same input, each as deterministic Example bytes."""
    from tfx.components.example_gen.csv_example_gen import executor as stock

    from pipeline import csv_example_gen
    _, stock_splits = run_executor(stock.Executor, input_base, tmp_path / 'stock', **kwargs)
    ours_artifact, ours = run_executor(csv_example_gen.Executor, input_base, tmp_path / 'ours',
                                       **kwargs)
    return ({name: deterministic(records) for name, records in stock_splits.items()}, ours,
            ours_artifact)


@pytest.mark.e2e
def test_embedded_data_gives_tfx_examples_in_tfx_splits(tmp_path):
    stock, ours, artifact = both(DEFAULT_DATA_ROOT, tmp_path)
    assert len(stock['train']) + len(stock['eval']) == 15002
    for split in ('train', 'eval'):
        # Ours are written as TFX hashes them: byte for byte the deterministic form.
        assert sorted(ours[split]) == stock[split], split
    assert artifact.split_names == '["train", "eval"]'
    assert artifact.get_string_custom_property('payload_format') == 'FORMAT_TF_EXAMPLE'
    assert artifact.get_string_custom_property('file_format') == 'tfrecords_gzip'
    assert os.listdir(os.path.join(artifact.uri, 'Split-train')) == \
        ['data_tfrecord-00000-of-00001.gz']


@pytest.mark.e2e
def test_ten_times_the_data_gives_tfx_examples_in_tfx_splits(tmp_path):
    """150,020 rows in two files, resampled and jittered as the benchmarks' 10x
    (operations.data_scaling): the same Examples in the same splits as TFX's executor."""
    from operations.data_scaling import write_scaled
    paths = write_scaled(os.path.join(DEFAULT_DATA_ROOT, 'data.csv'), 10, str(tmp_path / 'data'))
    assert len(paths) > 1
    stock, ours, _ = both(tmp_path / 'data', tmp_path)
    assert len(stock['train']) + len(stock['eval']) == 150020
    for split in ('train', 'eval'):
        assert sorted(ours[split]) == stock[split], split


QUIRKS = [
    # ints, floats, strings, a column with no values; numbers that Python's int() and
    # float() read and Arrow does not (spaces, '+', '_', 19 digits, 'nan'); an int too
    # large for int64 (a string then); blank cells; quoted commas, quotes, newlines
    b'a,b,c,empty,pyint,pyfloat,big,blank,note\r\n',
    b'1,1.5,x,, 7 , 1.5,9223372036854775807,  ,"two\r\nlines"\r\n',
    b'-2,.5,"y, z",,+8,+.5,99999999999999999999,1,"say ""hi"""\r\n',
    b',1e3,,,1_000,1_0.5,1,,\r\n',
    b'\r\n',
    b'4,-0,\xc3\xa9t\xc3\xa9,,-0,nan,3,\t,\r\n',
    b'5,7,w,,9223372036854775807,-Infinity,-1,0,"a\nb"\r\n',
]


def test_csv_quirks_give_tfx_examples(tmp_path):
    import tensorflow as tf
    data = tmp_path / 'data'
    data.mkdir()
    (data / 'quirks.csv').write_bytes(b''.join(QUIRKS))
    stock, ours, _ = both(data, tmp_path, splits=(('all', 1),))
    assert len(stock['all']) == 5
    kinds = {name: feature.WhichOneof('kind') for name, feature in
             tf.train.Example.FromString(stock['all'][0]).features.feature.items()}
    assert kinds == {'a': 'int64_list', 'b': 'float_list', 'c': 'bytes_list', 'empty': None,
                     'pyint': 'int64_list', 'pyfloat': 'float_list', 'big': 'bytes_list',
                     'blank': 'bytes_list', 'note': 'bytes_list'}
    column_a = [list(tf.train.Example.FromString(record).features.feature['a'].int64_list.value)
                for record in ours['all']]
    assert column_a == [[1], [-2], [], [4], [5]]                         # file order kept
    assert sorted(ours['all']) == stock['all']


@pytest.mark.parametrize('content', [b'a,b', b'a,b\r\n'], ids=['no-line-end', 'line-end'])
def test_a_header_only_file_gives_no_rows_as_in_tfx(content, tmp_path):
    data = tmp_path / 'data'
    data.mkdir()
    (data / 'header.csv').write_bytes(content)
    (data / 'rows.csv').write_bytes(b'a,b\n1,x\n')
    stock, ours, _ = both(data, tmp_path, splits=(('all', 1),))
    assert len(stock['all']) == 1 and sorted(ours['all']) == stock['all']


def test_column_types_are_decided_over_all_files(tmp_path):
    """A column of ints in one file and floats in another is FLOAT in both, as in TFX."""
    data = tmp_path / 'data'
    data.mkdir()
    (data / 'a.csv').write_text('n,s\n1,x\n2,y\n')
    (data / 'b.csv').write_text('n,s\n3.5,z\n,\n')
    stock, ours, artifact = both(data, tmp_path, splits=(('all', 1),))
    assert sorted(ours['all']) == stock['all']
    import tensorflow as tf
    kinds = {tf.train.Example.FromString(record).features.feature['n'].WhichOneof('kind')
             for record in ours['all']}
    assert kinds == {'float_list'}
    assert sorted(os.listdir(os.path.join(artifact.uri, 'Split-all'))) == \
        ['data_tfrecord-00000-of-00002.gz', 'data_tfrecord-00001-of-00002.gz']


@pytest.mark.parametrize('content', [b'a,b\n1,caf\xe9\n', b'a,b\n1,2,3\n',
                                     b'a,b\n1,"' + b'x' * 200_000 + b'"\n'],
                         ids=['not-utf8', 'too-many-fields', 'field-too-large'])
def test_bad_rows_fail_the_executor(content, tmp_path):
    from pipeline import csv_example_gen
    data = tmp_path / 'data'
    data.mkdir()
    (data / 'bad.csv').write_bytes(content)
    with pytest.raises(ValueError, match='CSV'):   # Arrow's, naming the CSV problem
        run_executor(csv_example_gen.Executor, data, tmp_path / 'out', splits=(('all', 1),))


def test_files_with_different_headers_fail(tmp_path):
    from pipeline import csv_example_gen
    data = tmp_path / 'data'
    data.mkdir()
    (data / 'a.csv').write_text('a,b\n1,2\n')
    (data / 'b.csv').write_text('a,c\n1,2\n')
    with pytest.raises(RuntimeError, match='have different header'):
        run_executor(csv_example_gen.Executor, data, tmp_path / 'out', splits=(('all', 1),))


def test_a_header_naming_a_column_twice_fails(tmp_path):
    from pipeline import csv_example_gen
    data = tmp_path / 'data'
    data.mkdir()
    (data / 'a.csv').write_text('fare,tips,fare,company,tips\n1,2,3,x,4\n')
    with pytest.raises(ValueError, match=r"a.csv: the header names 'fare', 'tips' more than once"):
        run_executor(csv_example_gen.Executor, data, tmp_path / 'out', splits=(('all', 1),))


@pytest.mark.parametrize('header', ['fare ,tips\n', 'fare,tips \n', ' fare,tips\r\n'],
                         ids=['first', 'last', 'leading-crlf'])
def test_spaces_around_any_header_name_are_kept_alike(header, tmp_path):
    """TFX strips the header line, so spaces after the last name (or before the first)
    went silently while the same around any other name made a new column; every name
    is kept as written now, so the validation gate names each alike."""
    from pipeline import csv_example_gen
    data = tmp_path / 'data'
    data.mkdir()
    (data / 'a.csv').write_text(header + '1.0,0\n')
    _, splits = run_executor(csv_example_gen.Executor, data, tmp_path / 'out',
                             splits=(('all', 1),))
    import tensorflow as tf
    [example] = [tf.train.Example.FromString(r) for r in splits['all']]
    written = header.rstrip('\r\n').split(',')
    assert sorted(example.features.feature) == sorted(written)


def test_the_component_keeps_tfx_csv_example_gen_id_and_driver():
    from tfx.components import CsvExampleGen as StockCsvExampleGen

    from pipeline.csv_example_gen import CsvExampleGen, Executor
    component = CsvExampleGen(input_base='/data')
    stock = StockCsvExampleGen(input_base='/data')
    assert component.id == 'CsvExampleGen'
    assert component.driver_class is stock.driver_class
    assert component.executor_spec.executor_class is Executor
    assert json.loads(component.exec_properties['output_config']) == \
        json.loads(stock.exec_properties['output_config'])
