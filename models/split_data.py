"""A split of transformed examples for the Trainer, in bounded memory.

A split of at most IN_MEMORY_EXAMPLES examples is held in memory whole, sorted
by content (model.load_examples): what the Trainer always did, so small runs
train the same model to the bit. A larger split is never held whole: one pass
parses it a chunk at a time and writes each chunk to disk (numpy files, rows
grouped by a hash of their content into FINE_BUCKETS buckets); the buckets then
form groups of at most IN_MEMORY_EXAMPLES examples, and training reads one group
at a time, sorted by content and shuffled by the seed. The hash and the sort
depend on the examples' content alone, so the order ExampleGen wrote them in
(random) cannot reach training, as before; and each group is a random part of
the split, so the groups in a seeded order shuffle the whole split.
"""

import os
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np
import tensorflow as tf

from models import features as f
from models import model as model_lib

# Examples held at once: a whole split up to this, else a group of buckets. At
# 2^18 the taxi data's splits stay in memory up to 10x (train 100k, eval 50k).
IN_MEMORY_EXAMPLES = 1 << 18
FINE_BUCKETS = 1024
_HASH = 'content_hash'


@dataclass
class _Chunk:
    """One chunk of a spilled split: its rows on disk, in bucket order."""
    prefix: str                # <prefix>.<feature>.npy per feature, and the hashes
    bucket_starts: np.ndarray  # FINE_BUCKETS + 1 row offsets


class Split:
    """The examples of one split: `examples` when held in memory, else `chunks`
    on disk under `directory` (removed by close())."""

    def __init__(self, examples: Optional[model_lib.Examples] = None,
                 directory: Optional[str] = None, chunks: Optional[List[_Chunk]] = None,
                 names: Optional[List[str]] = None):
        self.examples = examples
        self.directory = directory
        self.chunks = chunks or []
        self.names = names or []
        # Removed by close(), else when the Split is collected or at exit.
        self._remove = weakref.finalize(self, shutil.rmtree, directory, True) \
            if directory else None

    def close(self) -> None:
        """Removes the spilled files (nothing for a split in memory): a dataset
        still reading them keeps the Split alive, so collection may come late."""
        if self._remove is not None:
            self._remove()

    @property
    def in_memory(self) -> bool:
        return self.examples is not None

    def bucket_sizes(self) -> np.ndarray:
        return sum((np.diff(chunk.bucket_starts) for chunk in self.chunks),
                   np.zeros(FINE_BUCKETS, dtype=np.int64))

    def groups(self) -> List[Tuple[int, int]]:
        """Consecutive buckets [first, end) of at most IN_MEMORY_EXAMPLES examples
        each (a bucket larger than that alone): decided by the content alone."""
        groups, first, held = [], 0, 0
        for bucket, size in enumerate(self.bucket_sizes()):
            if held and held + size > IN_MEMORY_EXAMPLES:
                groups.append((first, bucket))
                first, held = bucket, 0
            held += int(size)
        if held:
            groups.append((first, FINE_BUCKETS))
        return groups

    def rows(self, first: int, end: int) -> Dict[str, np.ndarray]:
        """Every column (features, label, hash) of buckets [first, end), read from
        memory-mapped files: only those rows are read."""
        parts: Dict[str, List[np.ndarray]] = {name: [] for name in self.names + [_HASH]}
        for chunk in self.chunks:
            start, stop = chunk.bucket_starts[first], chunk.bucket_starts[end]
            if stop > start:
                for name in parts:
                    column = np.load(f'{chunk.prefix}.{name}.npy', mmap_mode='r')
                    parts[name].append(np.array(column[start:stop]))
        return {name: np.concatenate(columns) for name, columns in parts.items() if columns}


def content_hashes(features: Dict[str, tf.Tensor]) -> np.ndarray:
    """A 64-bit fingerprint (FarmHash) of each example's content key, as uint64."""
    keys = tf.constant(model_lib.content_keys(features))
    return tf.strings.to_hash_bucket_fast(keys, np.iinfo(np.int64).max).numpy().astype(np.uint64)


def _spill(chunk: Dict[str, tf.Tensor], prefix: str) -> _Chunk:
    """Writes one parsed chunk's rows, in bucket order, with their hashes."""
    hashes = content_hashes(chunk)
    buckets = (hashes % FINE_BUCKETS).astype(np.int64)
    order = np.argsort(buckets, kind='stable')
    for name, value in chunk.items():
        np.save(f'{prefix}.{name}.npy', value.numpy()[order])
    np.save(f'{prefix}.{_HASH}.npy', hashes[order])
    starts = np.concatenate([[0], np.cumsum(np.bincount(buckets, minlength=FINE_BUCKETS))])
    return _Chunk(prefix, starts)


def read_split(file_patterns: List[str], feature_spec) -> Split:
    """The split in memory (as model.load_examples) if it holds at most
    IN_MEMORY_EXAMPLES examples, else spilled to a temporary directory."""
    held: List[Dict[str, tf.Tensor]] = []
    count = 0
    chunks = model_lib.parsed_chunks(model_lib.matching_files(file_patterns), feature_spec)
    for chunk in chunks:
        held.append(chunk)
        count += int(chunk[f.LABEL_XF].shape[0])
        if count > IN_MEMORY_EXAMPLES:
            break
    else:
        return Split(examples=model_lib.content_sorted(model_lib.joined(held, feature_spec)))
    directory = tempfile.mkdtemp(prefix='trainer_split_')
    split = Split(directory=directory, names=sorted(held[0]))
    for index, chunk in enumerate(_chain(held, chunks)):
        split.chunks.append(_spill(chunk, os.path.join(directory, f'{index:06d}')))
    return split


def _chain(held: List[Dict[str, tf.Tensor]], rest: Iterator) -> Iterator[Dict[str, tf.Tensor]]:
    """The chunks read already (let go of as they are written), then the rest."""
    while held:
        yield held.pop(0)
    yield from rest


def _sorted_group(columns: Dict[str, np.ndarray]) -> Dict[str, tf.Tensor]:
    """A group's columns as tensors (hash dropped), in the order of their content."""
    columns.pop(_HASH, None)
    features = {name: tf.constant(value) for name, value in columns.items()}
    order = model_lib.content_order(features)
    return {name: tf.gather(value, order) for name, value in features.items()}


def _element_spec(split: Split, feature_spec) -> Tuple[Dict[str, tf.TensorSpec], tf.TensorSpec]:
    shapes = {name: tf.TensorSpec([None, *feature_spec[name].shape], feature_spec[name].dtype)
              for name in split.names}
    label = shapes.pop(f.LABEL_XF)
    return shapes, label


def _dataset(split: Split, feature_spec, groups_fn) -> tf.data.Dataset:
    """Examples one at a time from groups_fn()'s (features, label) groups."""
    def generate():
        for features in groups_fn():
            label = features.pop(f.LABEL_XF)
            yield features, label
    return tf.data.Dataset.from_generator(
        generate, output_signature=_element_spec(split, feature_spec)).unbatch()


def train_batches(split: Split, feature_spec, batch_size: int, seed: int) -> tf.data.Dataset:
    """Shuffled (features, label) batches: in memory as model.batches; spilled,
    the groups in an order drawn from the seed, each shuffled by it."""
    if split.in_memory:
        return model_lib.batches(split.examples, batch_size, seed, shuffle=True)

    def shuffled_groups():
        rng = np.random.default_rng(seed)
        groups = split.groups()
        for index in rng.permutation(len(groups)):
            group = _sorted_group(split.rows(*groups[index]))
            order = rng.permutation(len(group[f.LABEL_XF]))
            yield {name: tf.gather(value, order) for name, value in group.items()}
    return _dataset(split, feature_spec, shuffled_groups).batch(batch_size)


def _mixed(hashes: np.ndarray, seed: int) -> np.ndarray:
    """The hashes mixed with the seed (splitmix64's finalizer): a seeded sample."""
    with np.errstate(over='ignore'):
        x = hashes ^ np.uint64(seed * 0x9E3779B97F4A7C15 % (1 << 64))
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _sampled(split: Split, count: int, seed: int) -> Dict[str, tf.Tensor]:
    """The count examples of smallest seeded hash, in the order of their content:
    chosen from the hashes alone, a chunk at a time, then only those rows read."""
    keys = np.zeros(0, dtype=np.uint64)
    where = np.zeros((0, 2), dtype=np.int64)          # (chunk, row) of each key
    for index, chunk in enumerate(split.chunks):
        hashes = np.load(f'{chunk.prefix}.{_HASH}.npy')
        keys = np.concatenate([keys, _mixed(hashes, seed)])
        where = np.concatenate([where, np.stack(
            [np.full(len(hashes), index), np.arange(len(hashes))], axis=1)])
        if len(keys) > count:
            chosen = np.argpartition(keys, count - 1)[:count]
            keys, where = keys[chosen], where[chosen]
    where = where[np.lexsort((where[:, 1], where[:, 0]))]
    parts: Dict[str, List[np.ndarray]] = {name: [] for name in split.names}
    for index in np.unique(where[:, 0]):
        rows = where[where[:, 0] == index, 1]
        for name in parts:
            column = np.load(f'{split.chunks[index].prefix}.{name}.npy', mmap_mode='r')
            parts[name].append(np.array(column[rows]))
    return _sorted_group({name: np.concatenate(columns) for name, columns in parts.items()})


def eval_batches(split: Split, feature_spec, batch_size: int, seed: int,
                 count: Optional[int]) -> tf.data.Dataset:
    """(features, label) batches of at most count examples (all if None), drawn by
    the seed: in memory as model.sample and model.batches; spilled, the count of
    smallest seeded content hash, or every group in turn."""
    if split.in_memory:
        examples = split.examples
        if count:
            examples = model_lib.sample(examples, count, seed)
        return model_lib.batches(examples, batch_size, seed, shuffle=False)
    if count:
        sample = _sampled(split, count, seed)
        label = sample.pop(f.LABEL_XF)
        return tf.data.Dataset.from_tensor_slices((sample, label)).batch(batch_size).cache()

    def every_group():
        for first, end in split.groups():
            yield _sorted_group(split.rows(first, end))
    return _dataset(split, feature_spec, every_group).batch(batch_size)
