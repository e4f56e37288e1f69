"""Errors carrying a gRPC status code, mapped to HTTP the way TF Serving maps them."""

import re

import grpc

# tensorflow_serving/model_servers/http_server.cc: ToHTTPStatusCode.
_HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}


MAX_MESSAGE_CHARS = 1000
MAX_QUOTED_CHARS = 200

# C0 and C1 control characters, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile('[\x00-\x1f\x7f-\x9f\u2028\u2029]')


def escaped(text, limit: int = MAX_QUOTED_CHARS) -> str:
    """Client-supplied text as a log line or message may quote it: control characters
    escaped (\\x1b, not a raw escape sequence for the terminal reading the log), at
    most `limit` characters in all."""
    text = str(text)
    quoted = _CONTROL.sub(lambda match: match.group().encode('unicode_escape').decode(),
                          text[:limit])
    if len(quoted) <= limit and len(text) <= limit:
        return quoted
    return quoted[:limit - 3] + '...'


def one_line(message: str) -> str:
    """A message on one line and of bounded length (TensorFlow's run to many lines),
    with no control characters."""
    text = ' '.join(str(message).split())
    return escaped(text, MAX_MESSAGE_CHARS)


class ServingError(Exception):
    """A failed request: the status code and message a client receives (one line)."""

    def __init__(self, code: grpc.StatusCode, message: str):
        message = one_line(message)
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS.get(self.code, 500)


def invalid_argument(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.NOT_FOUND, message)


def failed_precondition(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.FAILED_PRECONDITION, message)


def resource_exhausted(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.RESOURCE_EXHAUSTED, message)
