"""The REST transport: aiohttp's HTTP/1.1 server on an event loop of its own.

A connection costs a socket, not a thread: a client trickling its request holds
nothing else. aiohttp's parser (llhttp) reads the framing by the book and
answers what it cannot read with 400 (a Content-Length that is not one plain
decimal, given twice, or beside Transfer-Encoding). On top of it, per request:

- --rest_api_timeout_in_ms bounds the wait for a request's headers (aiohttp's
  keep-alive timer, armed while a connection has no complete request) and, again,
  the wait for its body (408);
- a POST needs a Content-Length or chunked coding (411); other codings are 501;
  a body over --max_message_bytes is refused before it is read (413), or as soon
  as a chunked one passes it;
- the bytes of bodies being read or waiting count against the budget of bytes
  in flight (429 past it), taken as they arrive, so a trickling body holds only
  what it sent;
- a refused body is drained for up to LINGER_SECONDS before the socket closes
  (aiohttp's lingering close), so a client still sending it reads the answer
  instead of a reset.

Inference runs on a pool of --rest_api_num_threads threads; status, metadata and
metrics are answered on the loop, never behind inference.
"""

import asyncio
import logging
from concurrent import futures
from typing import List, Tuple

from aiohttp import web, web_protocol
from aiohttp.http import HttpVersion11
from aiohttp.http_exceptions import HttpProcessingError

from serving.admission import ByteBudget
from serving.errors import ServingError, escaped
from serving.event_loop import LoopThread, inference_pool
from serving.rest import RestApi

log = logging.getLogger(__name__)

LINGER_SECONDS = 2.0
LISTEN_BACKLOG = 1024
BODY_METHODS = ('POST',)


class _ConnectionHandler(web_protocol.RequestHandler):
    """aiohttp's connection handler, answering what its parser cannot read as every
    other error: JSON, HTTP/1.1, Connection: close, one log line (not a traceback:
    it is the client's doing). A transfer coding other than chunked is 501, as it
    was before aiohttp (RFC 9110 15.6.2; aiohttp's parser says 400).

    After such an answer the connection lingers as for a refused body: it is shut
    for writing, what the client still sends (the body of a request whose
    Content-Length could not be read, say) is read and dropped for up to
    LINGER_SECONDS, then it closes. Closed at once, with bytes unread, the kernel
    would reset it, and the client could lose the answer."""

    _linger_after_answer = False

    def handle_error(self, request, status=500, exc=None, message=None):
        if status >= 500 or request.writer.output_size > 0:
            return super().handle_error(request, status, exc, message)   # our own fault
        text = getattr(exc, 'message', None) or message or 'Bad request'
        first = str(text).split('\n', 1)[0].rstrip(': ')
        if 'Transfer-Encoding' in first and 'invalid' in first:
            status, first = 501, 'Transfer-Encoding not supported: send chunked or a Content-Length'
        log.info('REST: %d: %s', status, escaped(first))
        self._linger_after_answer = True
        return _json(status, escaped(first), close=True)

    async def finish_response(self, request, resp, start_time):
        answered = await super().finish_response(request, resp, start_time)
        if self._linger_after_answer and self.transport is not None:
            self._linger(self.transport)
        return answered

    def _linger(self, transport) -> None:
        # aiohttp's own flag, set without its force_close(): the connection's loop
        # ends, drops what arrives (data_received) and leaves the socket open.
        self._force_close = True
        if transport.can_write_eof():
            transport.write_eof()
        if not transport.is_reading():
            transport.resume_reading()
        self._loop.call_later(LINGER_SECONDS, transport.close)


class _HttpServer(web.Server):
    """aiohttp's low-level server with the connection handler above, and error
    replies in HTTP/1.1 (aiohttp answers a request it could not parse as 1.0)."""

    def __init__(self, handler, **kwargs):
        super().__init__(handler, request_factory=self._request, **kwargs)

    def _request(self, message, payload, protocol, writer, task):
        if message is web_protocol.ERROR:
            message = message._replace(version=HttpVersion11)
        return web.BaseRequest(message, payload, protocol, writer, task, self._loop)

    def __call__(self) -> web_protocol.RequestHandler:
        return _ConnectionHandler(self, loop=self._loop, **self._kwargs)


class _Refused(Exception):
    """A request answered without its body (or the rest of it) being read."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _json(status: int, message: str, close: bool = False) -> web.Response:
    response = web.json_response({'error': message}, status=status)
    if close:
        response.force_close()
    return response


class _Transport:
    """Turns aiohttp requests into RestApi calls."""

    def __init__(self, rest: RestApi, max_body_bytes: int, timeout_seconds: float,
                 pool: futures.Executor, budget: ByteBudget):
        self._rest, self._max_body = rest, max_body_bytes
        self._timeout, self._pool, self._budget = timeout_seconds, pool, budget

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.raw_path.split('?', 1)[0]
        if request.method not in ('GET', 'POST'):
            return _json(501, f'Method {escaped(request.method, 20)} is not supported',
                         close=True)
        if request.method == 'POST':
            self._rest.activity()
        held: List[int] = [0]
        try:
            self._check_framing(request)
            body = await self._read_body(request, held)
        except _Refused as refused:
            log.info('REST %s %s: %d: %s', request.method, escaped(path), refused.status,
                     refused.message)
            self._budget.give(held[0])
            return _json(refused.status, refused.message, close=True)
        try:
            if request.method == 'GET':     # status, metadata, metrics: on the loop
                status, content_type, text = self._rest.handle('GET', path, body)
            else:
                status, content_type, text = await asyncio.get_running_loop().run_in_executor(
                    self._pool, self._rest.handle_in_pool, request.method, path, body)
                self._rest.activity()
        finally:
            self._budget.give(held[0])
        return web.Response(status=status, body=text.encode(),
                            headers={'Content-Type': content_type})

    def _check_framing(self, request: web.BaseRequest) -> None:
        encodings = request.headers.getall('Transfer-Encoding', [])
        codings = [c.strip().lower() for value in encodings for c in value.split(',')]
        if codings and codings != ['chunked']:
            raise _Refused(501, f'Transfer-Encoding {escaped(", ".join(codings), 100)} is not '
                                'supported: send chunked or a Content-Length')
        length = request.content_length
        if request.method in BODY_METHODS and not codings and length is None:
            raise _Refused(411, 'A POST needs a Content-Length (or chunked transfer coding)')
        if length is not None and length > self._max_body:
            raise _Refused(413, f'Request body of {length} bytes exceeds the limit of '
                                f'{self._max_body} bytes')

    async def _read_body(self, request: web.BaseRequest, held: List[int]) -> bytes:
        """The body, read within the time allowed and the limits; `held` counts the
        bytes taken from the budget (the caller gives them back)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        chunks: List[bytes] = []
        size = 0
        while True:
            try:
                chunk = await asyncio.wait_for(request.content.readany(),
                                               max(deadline - loop.time(), 0))
            except asyncio.TimeoutError:
                raise _Refused(408, 'The request took too long to arrive') from None
            except HttpProcessingError as error:     # a malformed chunked body
                raise _Refused(400, f'Malformed body: {escaped(error.message)}') from None
            if not chunk:
                return b''.join(chunks)
            size += len(chunk)
            if size > self._max_body:
                raise _Refused(413, f'Request body exceeds the limit of {self._max_body} bytes')
            try:
                self._budget.take(len(chunk))
            except ServingError as error:
                raise _Refused(error.http_status, error.message) from None
            held[0] += len(chunk)
            chunks.append(chunk)


class RestServer:
    """A running REST server; shutdown() stops it, its loop and its pool."""

    def __init__(self, loop: LoopThread, runner: web.BaseRunner, pool: futures.Executor,
                 address: Tuple[str, int]):
        self._loop, self._runner, self._pool = loop, runner, pool
        self.server_address = address

    def shutdown(self) -> None:
        self._loop.run(self._runner.cleanup(), 30)
        self._pool.shutdown(wait=False)
        self._loop.stop()


async def _start(transport: _Transport, host: str, port: int, timeout_seconds: float):
    server = _HttpServer(transport, keepalive_timeout=timeout_seconds,
                         lingering_time=LINGER_SECONDS, access_log=None)
    runner = web.ServerRunner(server, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=LISTEN_BACKLOG, reuse_address=True)
    await site.start()
    return runner, tuple(runner.addresses[0][:2])


def start_rest_server(rest: RestApi, host: str, port: int, max_body_bytes: int,
                      num_threads: int = 64, timeout_seconds: float = 30.0,
                      max_bytes_in_flight: int = 0) -> RestServer:
    """Serves REST on host:port; returns the server (server_address: the bound one).
    max_bytes_in_flight (default 4 x max_body_bytes) bounds the bodies held at once."""
    loop = LoopThread('rest-loop')
    pool = inference_pool(num_threads, 'rest')
    budget = ByteBudget(max_bytes_in_flight or 4 * max_body_bytes, '--max_bytes_in_flight')
    transport = _Transport(rest, max_body_bytes, timeout_seconds, pool, budget)
    try:
        runner, address = loop.run(_start(transport, host, port, timeout_seconds), 60)
    except BaseException:
        loop.stop()
        pool.shutdown(wait=False)
        raise
    return RestServer(loop, runner, pool, address)
