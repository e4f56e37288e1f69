"""What is wrong with a run's CSV input, by file and line.

CsvExampleGen's own errors name neither (`UnicodeDecodeError: 'utf-8 [while
running 'InputToRecord/ReadFromText']' codec can't decode byte 0xe9 in
position 105`); when it fails, the runner reads the input files itself to say
which file, which line, and what is wrong there.
"""

import codecs
import csv
import glob
import io
import os
from typing import List, Optional, Tuple


def input_files(input_base: str, pattern: str) -> List[str]:
    return sorted(glob.glob(os.path.join(input_base, pattern.replace('{SPAN}', '*'))))


def _first_bad_line(path: str) -> Tuple[Optional[str], Optional[List[str]]]:
    """(the first problem of the file or None, its header)."""
    header = None
    with open(path, 'rb') as f:
        decoder = codecs.getincrementaldecoder('utf-8')()
        for number, raw in enumerate(f, start=1):
            try:
                line = decoder.decode(raw)
            except UnicodeDecodeError as error:
                return (f'{path} line {number}: bytes that are not UTF-8 '
                        f'({raw[error.start:error.start + 4]!r} at byte {error.start} of the '
                        'line)'), header
            rows = list(csv.reader(io.StringIO(line)))
            if not rows:
                continue
            if header is None:
                header = rows[0]
            elif len(rows[0]) != len(header):
                return (f'{path} line {number}: {len(rows[0])} fields where the header has '
                        f'{len(header)}'), header
    return (None if header is not None else f'{path}: empty, not even a header line'), header


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
