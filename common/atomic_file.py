"""Files a reader takes whole or not at all: written beside, then renamed over."""

import os
from typing import Union


def write_atomically(path: str, data: Union[str, bytes], mode: int = 0o666) -> None:
    """Writes `data` to `path` through `path`.new and a rename, so that a reader (a
    scheduler parsing its configuration, a task its settings) never sees half of it;
    `mode` (before the umask) from the start: a secret is never readable by others."""
    fd = os.open(path + '.new', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, 'wb' if isinstance(data, bytes) else 'w') as f:
        f.write(data)
    os.replace(path + '.new', path)
