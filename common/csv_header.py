"""What a CSV header may not hold: a column name twice (the columns become features
by name, so one of the two would be lost)."""

from typing import List, Sequence


def repeated_names(names: Sequence[str]) -> List[str]:
    """The names the header gives more than once, sorted."""
    return sorted({name for name in names if names.count(name) > 1})


def describe_repeated(names: Sequence[str]) -> str:
    """The problem in words, names quoted (an empty name shows as '')."""
    return f'the header names {", ".join(repr(name) for name in names)} more than once'
