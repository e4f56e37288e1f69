"""What is wrong with a run's CSV input, by file and line.

CsvExampleGen's own errors name neither (`UnicodeDecodeError: 'utf-8 [while
running 'InputToRecord/ReadFromText']' codec can't decode byte 0xe9 in
position 105`); when it fails, the runner reads the input files itself to say
which file, which line, and what is wrong there: bytes that are not UTF-8, a
byte order mark, a field too large for CSV readers, a record with more or fewer
fields than the header, a column named twice, an empty file, headers that differ. The diagnosis
itself takes fields of any size, and names a file it cannot read.

When the validation gate stops a run instead (the data read, but not as the schema
says), the same reading names what made a column something else: spaces around a
header name, a value in a numeric column that is not a number ("1,234.5").
"""

import codecs
import contextlib
import csv
import glob
import os
import re
import sys
from typing import Any, Iterator, List, Mapping, Optional, Tuple

from common import csv_header
from common.csv_header import describe_repeated, repeated_names

# The field size Python's csv module takes by default, which TFX's CSV decoder uses.
CSV_FIELD_LIMIT = 131072


def input_files(input_base: str, pattern: str) -> List[str]:
    return sorted(glob.glob(os.path.join(input_base, pattern.replace('{SPAN}', '*'))))


def _undecodable_line(path: str) -> Optional[str]:
    """A byte order mark, or the first line whose bytes are not UTF-8."""
    with open(path, 'rb') as f:
        decoder = codecs.getincrementaldecoder('utf-8')()
        number = 0
        for number, raw in enumerate(f, start=1):
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                return (f'{path} line 1: a UTF-8 byte order mark (BOM) before the header, which '
                        'makes its first column name a different one: save the file as UTF-8 '
                        'without a BOM')
            try:
                decoder.decode(raw)
            except UnicodeDecodeError as error:
                return (f'{path} line {number}: bytes that are not UTF-8 '
                        f'({raw[error.start:error.start + 4]!r} at byte {error.start} of the '
                        'line)')
        try:
            decoder.decode(b'', final=True)
        except UnicodeDecodeError:
            return f'{path} line {max(number, 1)}: ends in the middle of a UTF-8 character'
    return None


@contextlib.contextmanager
def _any_field_size() -> Iterator[None]:
    """Python's csv module takes fields of any size while the block runs (its limit
    is the process's, not the reader's)."""
    limit = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)
    try:
        yield
    finally:
        csv.field_size_limit(limit)


def _first_bad_record(path: str) -> Tuple[Optional[str], Optional[List[str]]]:
    """(the first record of the file that CSV readers refuse, or None; its header).
    Records may span lines (quoted newlines): each is named by its first line."""
    header = None
    with open(path, newline='', encoding='utf-8') as f, _any_field_size():
        for line, row in _records(csv.reader(f), path):
            longest = max((len(field) for field in row), default=0)
            if longest > CSV_FIELD_LIMIT:
                return (f'{path} line {line}: a field of {longest} characters, over the '
                        f'{CSV_FIELD_LIMIT} that CSV readers (TFX\'s, Python\'s) take'), header
            if header is None:
                header = row
                repeated = repeated_names(row)
                if repeated:
                    return f'{path} line {line}: {describe_repeated(repeated)}', header
            elif row and len(row) != len(header):
                return (f'{path} line {line}: {len(row)} fields where the header has '
                        f'{len(header)}'), header
    return (None if header is not None else f'{path}: empty, not even a header line'), header


def _records(reader: Any, path: str) -> Iterator[Tuple[int, List[str]]]:
    """(first line, record) of each record; one the reader refuses (a NUL byte, say)
    is CsvProblem naming its line."""
    line = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise CsvProblem(f'{path} line {line}: {error}') from None
        yield line, row
        line = reader.line_num + 1


class CsvProblem(ValueError):
    """A record Python's CSV reader refuses; the message names the file and line."""


def _first_bad_line(path: str) -> Tuple[Optional[str], Optional[List[str]]]:
    """(the first problem of the file or None, its header)."""
    undecodable = _undecodable_line(path)
    if undecodable:
        return undecodable, None
    try:
        return _first_bad_record(path)
    except CsvProblem as problem:
        return str(problem), None


def byte_order_marks(input_base: str, pattern: str) -> List[str]:
    """The input files that start with a UTF-8 byte order mark."""
    found = []
    for path in input_files(input_base, pattern):
        try:
            with open(path, 'rb') as f:
                if f.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8:
                    found.append(path)
        except OSError:
            continue       # unreadable: not this question's to answer
    return found


def diagnose(input_base: str, pattern: str) -> Optional[str]:
    """The first problem in the input files, naming the file (and line), or None."""
    files = input_files(input_base, pattern)
    if not files:
        return f'no CSV files match {os.path.join(input_base, pattern)}'
    headers = {}
    for path in files:
        try:
            problem, headers[path] = _first_bad_line(path)
        except OSError as error:
            return f'{path}: cannot be read: {error.strerror}'
        if problem:
            return problem
    first = files[0]
    for path in files[1:]:
        if headers[path] != headers[first]:
            return f'{path}: its header differs from that of {first}'
    return None


def padded_names(input_base: str, pattern: str) -> Optional[str]:
    """The first input file whose header has a name with spaces around it."""
    for path in input_files(input_base, pattern):
        try:
            with open(path, newline='', encoding='utf-8', errors='replace') as f:
                header = csv_header.names(f.readline())
        except OSError:
            continue           # not this question's to answer
        names = csv_header.padded(header)
        if names:
            return (f'{path} line 1: the header names {", ".join(_padding(n) for n in names)}, '
                    "so each reads as a new column and the schema's as missing: take the "
                    'spaces out')
    return None


def _padding(name: str) -> str:
    """'tips' with 2 spaces after it: the count in words (an error line is one line,
    its runs of spaces squeezed)."""
    before, after = len(name) - len(name.lstrip()), len(name) - len(name.rstrip())
    sides = [f'{_spaces(count)} {side} it' for count, side in ((before, 'before'),
                                                              (after, 'after')) if count]
    return f'{name.strip()!r} with {" and ".join(sides)}'


def _spaces(count: int) -> str:
    return 'a space' if count == 1 else f'{count} spaces'



_GROUPED = re.compile(r'-?\d{1,3}(,\d{3})+(\.\d*)?')


def _reads_as(text: str, kind: str) -> bool:
    """Whether TFX's CSV reading gives the value the schema's type (kind: 'INT' or
    'FLOAT'), by tfx-bsl's own rule, as pipeline/csv_example_gen.py reads columns."""
    from tfx_bsl.coders import csv_decoder
    found = csv_decoder._InferValueType(text.encode())  # pylint: disable=protected-access
    return found <= csv_decoder.ColumnType[kind]


def not_a_number(input_base: str, pattern: str, numeric: Mapping[str, str]) -> Optional[str]:
    """The first value, by file and line, of a column the schema says is numeric
    (`numeric`: column -> 'INT' or 'FLOAT') that TFX does not read as one: one such
    value makes the whole column a string."""
    for path in input_files(input_base, pattern):
        try:
            found = _first_not_a_number(path, numeric)
        except (OSError, CsvProblem, UnicodeDecodeError):
            continue           # CsvExampleGen's diagnosis names those
        if found:
            return found
    return None


def _first_not_a_number(path: str, numeric: Mapping[str, str]) -> Optional[str]:
    with open(path, newline='', encoding='utf-8') as f, _any_field_size():
        records = _records(csv.reader(f), path)
        _, header = next(records, (1, []))
        columns = [(index, name, numeric[name]) for index, name in enumerate(header)
                   if name in numeric]
        for line, row in records:
            for index, name, kind in columns:
                text = row[index] if index < len(row) else ''
                if text and not _reads_as(text, kind):
                    return _not_a_number(path, line, name, kind, text)
    return None


def _not_a_number(path: str, line: int, name: str, kind: str, text: str) -> str:
    shown = text if len(text) <= 40 else text[:37] + '...'
    what = 'an integer' if kind == 'INT' else 'a number'
    hint = (': write numbers without thousands separators' if _GROUPED.fullmatch(text)
            else '')
    return (f'{path} line {line}: {name} is {shown!r}, not {what} (the schema\'s {name} is '
            f'{kind}), so the whole column reads as strings{hint}')
