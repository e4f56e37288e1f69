"""The Trainer's splits beyond memory: spilled to disk in buckets of content, read
a group at a time, and still independent of the order ExampleGen wrote them in."""

import gc
import os
import random

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from models import features as f
from models import model as model_lib
from models import split_data
from tests.test_model import _example


@pytest.fixture()
def small_groups(monkeypatch):
    """Groups of at most 150 examples, chunks of 50: several of each on the test data."""
    monkeypatch.setattr(split_data, 'IN_MEMORY_EXAMPLES', 150)
    monkeypatch.setattr(model_lib, '_CHUNK', 50)


def _write(rows, spec, path):
    with tf.io.TFRecordWriter(path, tf.io.TFRecordOptions(compression_type='GZIP')) as out:
        for row in rows:
            out.write(_example(row, spec).SerializeToString())
    return path


@pytest.fixture()
def two_orders(tft_result, tmp_path):
    """(feature spec, the same transformed examples written in two orders)."""
    transform_dir, transformed = tft_result
    spec = tft.TFTransformOutput(transform_dir).transformed_feature_spec()
    shuffled = list(transformed)
    random.Random(3).shuffle(shuffled)
    return spec, (_write(transformed, spec, str(tmp_path / 'a.gz')),
                  _write(shuffled, spec, str(tmp_path / 'b.gz')))


def _rows(dataset):
    """A pass over (features, label) batches as one array of rows, columns by name."""
    batches = [({**features, f.LABEL_XF: label}) for features, label in dataset]
    return np.stack([np.concatenate([np.reshape(batch[name].numpy(), [-1]) for batch in batches])
                     .astype(np.float64) for name in sorted(batches[0])], axis=1)


def test_a_spilled_split_trains_on_every_example_in_an_order_of_content_and_seed(
        small_groups, two_orders):
    spec, paths = two_orders
    splits = [split_data.read_split([path], spec) for path in paths]
    assert not splits[0].in_memory and len(splits[0].groups()) > 3
    assert all(size <= 150 for size in [
        sum(splits[0].bucket_sizes()[first:end]) for first, end in splits[0].groups()])
    passes = [_rows(split_data.train_batches(split, spec, 32, seed=5)) for split in splits]
    np.testing.assert_array_equal(passes[0], passes[1])       # the writing order is gone
    whole = model_lib.load_examples([paths[0]], spec)
    every = _rows(tf.data.Dataset.from_tensor_slices(whole).batch(1000))
    np.testing.assert_array_equal(np.unique(passes[0], axis=0), np.unique(every, axis=0))
    assert len(passes[0]) == len(every)
    other_seed = _rows(split_data.train_batches(splits[0], spec, 32, seed=6))
    assert not np.array_equal(other_seed, passes[0])


def test_a_spilled_eval_split_is_a_seeded_sample_of_the_content(small_groups, two_orders):
    spec, paths = two_orders
    splits = [split_data.read_split([path], spec) for path in paths]
    samples = [_rows(split_data.eval_batches(split, spec, 32, seed=5, count=50))
               for split in splits]
    np.testing.assert_array_equal(samples[0], samples[1])
    assert len(samples[0]) == 50
    every = _rows(split_data.eval_batches(splits[0], spec, 32, seed=5, count=None))
    assert len(every) == len(model_lib.load_examples([paths[0]], spec)[1])
    assert {row.tobytes() for row in samples[0]} <= {row.tobytes() for row in every}


def test_a_small_split_is_held_as_before_and_a_spilled_one_leaves_no_files(
        small_groups, two_orders, monkeypatch):
    spec, paths = two_orders
    spilled = split_data.read_split([paths[0]], spec)
    directory = spilled.directory
    assert os.listdir(directory)
    del spilled
    gc.collect()
    assert not os.path.exists(directory)
    closed = split_data.read_split([paths[0]], spec)
    _rows(split_data.train_batches(closed, spec, 32, seed=5))
    closed.close()
    assert not os.path.exists(closed.directory)
    closed.close()
    monkeypatch.setattr(split_data, 'IN_MEMORY_EXAMPLES', 1 << 20)
    held = split_data.read_split([paths[1]], spec)
    assert held.in_memory
    as_before = model_lib.load_examples([paths[0]], spec)
    np.testing.assert_array_equal(
        _rows(split_data.train_batches(held, spec, 32, seed=5)),
        _rows(model_lib.batches(as_before, 32, seed=5, shuffle=True)))
