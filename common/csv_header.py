"""A CSV header's column names, and what a header may not hold: a column name twice
(the columns become features by name, so one of the two would be lost)."""

from typing import List, Sequence


def names(first_line: str) -> List[str]:
    """The column names of a header line, as written: split at commas, only the line's
    end taken off. (TFX strips the whole line, so spaces around the first and last
    names went and those around any other stayed: every column alike now.)"""
    return first_line.rstrip('\r\n').split(',')


def padded(column_names: Sequence[str]) -> List[str]:
    """The names with spaces (or tabs) before or after them, which a schema's names
    never have."""
    return [name for name in column_names if name != name.strip()]


def repeated_names(names: Sequence[str]) -> List[str]:
    """The names the header gives more than once, sorted."""
    return sorted({name for name in names if names.count(name) > 1})


def describe_repeated(names: Sequence[str]) -> str:
    """The problem in words, names quoted (an empty name shows as '')."""
    return f'the header names {", ".join(repr(name) for name in names)} more than once'
