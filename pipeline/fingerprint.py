"""Content fingerprints: of a file, of a directory such as a SavedModel.

A SavedModel's fingerprint is the sha256 over its files, in path order: each
file's relative path and the sha256 of its bytes. That covers the variables,
the graph (saved_model.pb), the TFT vocabularies (assets) and the warmup
requests: two models have the same fingerprint exactly when every byte is the
same. (TF's own fingerprint.pb is one of those files; it cannot stand in for
the whole, since its checksums leave the assets out.)

Local paths are read with the standard library; URLs (gs://...) through
tf.io.gfile, imported only for them.
"""

import hashlib
import os
from typing import List

from common.tf_serving import is_url

_CHUNK = 1 << 20


def _open(path: str):
    if is_url(path):
        import tensorflow as tf
        return tf.io.gfile.GFile(path, 'rb')
    return open(path, 'rb')


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with _open(path) as f:
        for chunk in iter(lambda: f.read(_CHUNK), b''):
            digest.update(chunk)
    return digest.hexdigest()


def relative_files(directory: str) -> List[str]:
    """Every file under directory, as sorted relative paths."""
    if is_url(directory):
        import tensorflow as tf
        walk = tf.io.gfile.walk(directory)
    else:
        walk = os.walk(directory)
    return sorted(os.path.relpath(os.path.join(root, name), directory)
                  for root, _, names in walk for name in names)


def directory_fingerprint(directory: str) -> str:
    """sha256 over (relative path, sha256 of the bytes) of every file, in path order."""
    files = relative_files(directory)
    if not files:
        raise FileNotFoundError(f'no files under {directory}')
    digest = hashlib.sha256()
    for name in files:
        digest.update(f'{name}\0{file_sha256(os.path.join(directory, name))}\n'.encode())
    return digest.hexdigest()
