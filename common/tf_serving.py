"""TF Serving's on-disk conventions, shared by the exporter, the Pusher and the server.

A model's base path holds one directory per version, named by its number; a
version counts once its saved_model.pb exists. Names that are not numbers
(such as the Pusher's temporary copies) are ignored, by TF Serving and by us.
Paths may be local or any file system TensorFlow knows (gs://, s3://, ram://):
those are listed through tf.io.gfile, which is only imported for them, so that
commands reading a local home stay free of TensorFlow.
"""

import os
from typing import Dict, List, Optional

SAVED_MODEL_FILE = 'saved_model.pb'
WARMUP_FILE = os.path.join('assets.extra', 'tf_serving_warmup_requests')


def is_url(path: str) -> bool:
    return '://' in path


def _list(directory: str) -> List[str]:
    if is_url(directory):
        import tensorflow as tf
        if not tf.io.gfile.isdir(directory):
            return []
        return [name.rstrip('/') for name in tf.io.gfile.listdir(directory)]
    return os.listdir(directory) if os.path.isdir(directory) else []


def _exists(path: str) -> bool:
    if is_url(path):
        import tensorflow as tf
        return tf.io.gfile.exists(path)
    return os.path.exists(path)


MAX_VERSION = (1 << 63) - 1      # versions are int64, as ModelSpec carries them


def version_number(text: str) -> Optional[int]:
    """The version a string of digits names, if it is an int64 (compared as text
    first: int() refuses more than 4,300 digits); None otherwise."""
    digits = text.lstrip('0') or '0'
    if not text.isdigit() or len(digits) > len(str(MAX_VERSION)) or int(digits) > MAX_VERSION:
        return None
    return int(digits)


def version_dirs(base_path: str, ignored: Optional[List[str]] = None) -> Dict[int, str]:
    """Version number -> directory, for numbered subdirectories holding saved_model.pb.
    Names of digits that are no int64 (99999999999999999999, or thousands of digits)
    are no versions: they go to `ignored`, if given."""
    found = {}
    for name in _list(base_path):
        if not name.isdigit():
            continue
        if version_number(name) is None:
            if ignored is not None:
                ignored.append(name)
            continue
        path = os.path.join(base_path, name)
        if _exists(os.path.join(path, SAVED_MODEL_FILE)):
            found[int(name)] = path
    return found


def newest_version(base_path: str) -> Optional[int]:
    """The highest complete version under base_path, or None."""
    return max(version_dirs(base_path), default=None)
