"""The diagnosis of CSV input that CsvExampleGen refused: every quirk named by file and
line, and the diagnosis itself never fails."""

import pytest

from operations.inputs import byte_order_marks, diagnose, not_a_number, padded_names

HEADER = b'fare,payment_type,tips\n'


@pytest.mark.parametrize('content, problem', [
    (HEADER + b'1.0,Cash,0\n2.0,caf\xe9,0\n', 'line 3: bytes that are not UTF-8'),
    (HEADER + b'1.0,Cash,0\n2.0,caf\xc3', 'line 3: ends in the middle of a UTF-8 character'),
    (HEADER + b'1.0,Cash,0\n2.0,\x00,0\n', 'line 3: line contains NUL'),
    (HEADER + b'1.0,Cash,0,9\n', 'line 2: 4 fields where the header has 3'),
    (HEADER + b'"' + b'x' * 140_000 + b'",Cash,0\n',
     'line 2: a field of 140000 characters, over the 131072'),
    (b'\xef\xbb\xbf' + HEADER + b'1.0,Cash,0\n', 'line 1: a UTF-8 byte order mark (BOM)'),
    (b'', 'empty, not even a header line'),
    (b'tips,fare,tips\n0,1.0,0\n', "line 1: the header names 'tips' more than once"),
], ids=['not-utf8', 'cut-utf8', 'nul', 'fields', 'field-too-large', 'bom', 'empty',
        'repeated-name'])
def test_each_quirk_is_named_by_file_and_line(content, problem, tmp_path):
    (tmp_path / 'trips.csv').write_bytes(content)
    assert diagnose(str(tmp_path), '*.csv').startswith(f'{tmp_path / "trips.csv"} {problem}'
                                                       if content else
                                                       f'{tmp_path / "trips.csv"}: {problem}')


def test_records_over_several_lines_are_one_record(tmp_path):
    (tmp_path / 'trips.csv').write_bytes(HEADER + b'1.0,"Cash,\nor card",0\n2.0,Cash,0,1\n')
    assert diagnose(str(tmp_path), '*.csv') == \
        f'{tmp_path / "trips.csv"} line 4: 4 fields where the header has 3'


def test_sound_input_and_differing_headers(tmp_path):
    (tmp_path / 'a.csv').write_bytes(HEADER + b'1.0,Cash,0\n')
    assert diagnose(str(tmp_path), '*.csv') is None
    (tmp_path / 'b.csv').write_bytes(b'fare,tips\n1.0,0\n')
    assert diagnose(str(tmp_path), '*.csv') == \
        f'{tmp_path / "b.csv"}: its header differs from that of {tmp_path / "a.csv"}'


def test_byte_order_marks_are_found(tmp_path):
    (tmp_path / 'a.csv').write_bytes(HEADER)
    (tmp_path / 'b.csv').write_bytes(b'\xef\xbb\xbf' + HEADER)
    assert byte_order_marks(str(tmp_path), '*.csv') == [str(tmp_path / 'b.csv')]


def test_spaces_around_a_header_name_are_named(tmp_path):
    (tmp_path / 'a.csv').write_bytes(HEADER)
    assert padded_names(str(tmp_path), '*.csv') is None
    (tmp_path / 'b.csv').write_bytes(b' fare,payment_type,tips  \n1.0,Cash,0\n')
    assert padded_names(str(tmp_path), '*.csv') == (
        f"{tmp_path / 'b.csv'} line 1: the header names 'fare' with a space before it, 'tips' "
        "with 2 spaces after it, so each reads as a new column and the schema's as missing: "
        'take the spaces out')


@pytest.mark.parametrize('cell, kind, problem', [
    ('"1,234.5"', 'FLOAT', "fare is '1,234.5', not a number (the schema's fare is FLOAT), so the "
     'whole column reads as strings: write numbers without thousands separators'),
    ('n/a', 'FLOAT', "fare is 'n/a', not a number"),
    ('2.5', 'INT', "fare is '2.5', not an integer (the schema's fare is INT)"),
    ('99999999999999999999', 'INT', "fare is '99999999999999999999', not an integer"),
], ids=['thousands', 'text', 'float-for-int', 'past-int64'])
def test_a_value_that_is_not_a_number_is_named_by_file_and_line(cell, kind, problem, tmp_path):
    (tmp_path / 'trips.csv').write_bytes(HEADER + b'1,Cash,0\n\n2,"multi\nline",0\n'
                                         + cell.encode() + b',Cash,0\n')
    # A blank line and a record over two lines before it: lines counted as written.
    found = not_a_number(str(tmp_path), '*.csv', {'fare': kind, 'tips': 'INT'})
    assert found.startswith(f'{tmp_path / "trips.csv"} line 6: {problem}'), found


def test_numbers_as_the_schema_types_them_are_not_named(tmp_path):
    (tmp_path / 'trips.csv').write_bytes(HEADER + b'1,Cash,0\n2.5e3,Card,\n-0.5,,7\n')
    assert not_a_number(str(tmp_path), '*.csv', {'fare': 'FLOAT', 'tips': 'INT'}) is None
