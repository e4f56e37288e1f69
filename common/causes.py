"""An exception's chain of causes: what failures are judged by, wherever a library
re-raised or wrapped them (TFX's publish, Beam's DoFn, pybind11)."""

from typing import Iterator, List, Optional


def causes(error: BaseException) -> Iterator[BaseException]:
    """The error, then what it was raised from or while handling, and so on; each once
    (a chain may loop back)."""
    seen: List[BaseException] = []
    current: Optional[BaseException] = error
    while current is not None and current not in seen:
        yield current
        seen.append(current)
        current = current.__cause__ or current.__context__
