"""An HTTP/1.1 request body, read by the book (RFC 9112, section 6) and within
bounds, before anything else looks at it.

- Content-Length: one plain decimal value, no larger than the limit (413),
  given once (two, even equal, are refused: a proxy might have taken the other).
- Transfer-Encoding: chunked only (501 for others), read chunk by chunk with the
  same limit, never with a Content-Length beside it (400): what a client sends
  is never read as the start of its next request.
- POST with neither: 411. A body that ends early: 400; one that takes longer
  than the deadline: 408.
"""

import re
import socket
import time

_DECIMAL = re.compile(r'[0-9]{1,19}')
_HEX = re.compile(rb'[0-9a-fA-F]{1,15}')
_MAX_LINE = 1024          # a chunk-size or trailer line
_MAX_TRAILERS = 64


class BodyError(Exception):
    """The request cannot be read: an HTTP status and what to fix."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class BodyReader:
    """Reads from a connection's buffered reader, each wait bounded by the deadline."""

    def __init__(self, rfile, connection: socket.socket, deadline: float):
        self._rfile, self._connection, self._deadline = rfile, connection, deadline

    def _wait_budget(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise BodyError(408, 'The request took too long to arrive')
        self._connection.settimeout(left)

    def exactly(self, count: int) -> bytes:
        chunks, remaining = [], count
        while remaining:
            self._wait_budget()
            try:
                chunk = self._rfile.read1(min(remaining, 1 << 16))
            except (socket.timeout, TimeoutError):
                raise BodyError(408, 'The request took too long to arrive') from None
            if not chunk:
                raise BodyError(400, f'The body ended after {count - remaining} of its '
                                     f'{count} bytes')
            chunks.append(chunk)
            remaining -= len(chunk)
        return b''.join(chunks)

    def line(self) -> bytes:
        self._wait_budget()
        try:
            line = self._rfile.readline(_MAX_LINE + 1)
        except (socket.timeout, TimeoutError):
            raise BodyError(408, 'The request took too long to arrive') from None
        if len(line) > _MAX_LINE or not line.endswith(b'\r\n'):
            raise BodyError(400, 'Malformed chunked body: a line too long or cut short')
        return line[:-2]


def _chunked(reader: BodyReader, max_bytes: int) -> bytes:
    parts, total = [], 0
    while True:
        size_text = reader.line().split(b';', 1)[0].strip()
        if not _HEX.fullmatch(size_text):
            raise BodyError(400, 'Malformed chunked body: a chunk size is not hexadecimal')
        size = int(size_text, 16)
        if size == 0:
            break
        total += size
        if total > max_bytes:
            raise BodyError(413, f'Request body exceeds the limit of {max_bytes} bytes')
        parts.append(reader.exactly(size))
        if reader.exactly(2) != b'\r\n':
            raise BodyError(400, 'Malformed chunked body: a chunk does not end with CRLF')
    for _ in range(_MAX_TRAILERS):
        if reader.line() == b'':
            return b''.join(parts)
    raise BodyError(400, 'Malformed chunked body: too many trailer lines')


def read_body(headers, method: str, reader: BodyReader, max_bytes: int) -> bytes:
    """The request's body (b'' when it has none); BodyError when it is malformed."""
    encodings = headers.get_all('Transfer-Encoding') or []
    lengths = headers.get_all('Content-Length') or []
    if encodings:
        if lengths:
            raise BodyError(400, 'Transfer-Encoding and Content-Length together')
        codings = [c.strip().lower() for value in encodings for c in value.split(',')]
        if codings != ['chunked']:
            raise BodyError(501, f'Transfer-Encoding {", ".join(codings)} is not supported: '
                                 'send chunked or a Content-Length')
        return _chunked(reader, max_bytes)
    if not lengths:
        if method == 'POST':
            raise BodyError(411, 'A POST needs a Content-Length (or chunked transfer coding)')
        return b''
    if len(lengths) > 1:
        raise BodyError(400, 'Content-Length given more than once')
    value = lengths[0].strip()
    if not _DECIMAL.fullmatch(value):
        raise BodyError(400, 'Content-Length must be a plain decimal number of bytes')
    length = int(value)
    if length > max_bytes:
        raise BodyError(413, f'Request body of {length} bytes exceeds the limit of {max_bytes} '
                             'bytes')
    return reader.exactly(length) if length else b''
