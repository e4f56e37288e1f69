"""Admission by cost, before any tensor is built.

A request is charged what it expands to inside the server, in elements: a
tensor its declared shape's element count; a serialized tf.Example the
features the model parses out of it (examples x features; a REST example,
built from JSON, the features it carries if more); a JSON body its values, or,
if more, the Python objects parsing it makes (an object or array weighs as
three values: `{}` is 2 bytes of JSON and 64 of Python). Two limits apply, both
RESOURCE_EXHAUSTED (HTTP 429) at once with one line naming the limit and the
flag that raises it:

  --max_request_elements    what one request may expand to;
  --max_elements_in_flight  what all requests under way may hold together.

Examples sent serialized (gRPC Classify, Regress, MultiInference) reach the
model as they came: what they carry besides the features it parses costs their
bytes, no more, and the examples with their context may not come to more than
--max_message_bytes.

The message sizes (--max_message_bytes) bound bytes; these bound what small
bytes can ask for: 8 MB of empty tf.Examples is 4M examples, which the taxi
model would expand to 18 features each (about 5 GB, measured before this).
"""

import contextlib
import dataclasses
import math
import threading
from typing import Dict, Optional, Tuple

from tensorflow.core.framework import types_pb2

from serving.errors import resource_exhausted

REQUEST_FLAG = '--max_request_elements'
IN_FLIGHT_FLAG = '--max_elements_in_flight'
MESSAGE_FLAG = '--max_message_bytes'


@dataclasses.dataclass(frozen=True)
class Cost:
    """Elements a request expands to, and how they were counted (for the message)."""
    elements: int
    what: str


class Ticket:
    """One request's share of the budget; grows as more of the request is known."""

    def __init__(self, admission: 'Admission'):
        self._admission = admission
        self.elements = 0

    def grow(self, cost: Cost) -> None:
        """Charges the request `cost` if that is more than it holds; RESOURCE_EXHAUSTED
        (nothing charged) when over the per-request cap or the budget."""
        self._admission._charge(self, cost)

    def release(self) -> None:
        self._admission._release(self)


class Admission:
    """The per-request cap and the server-wide budget of elements in flight."""

    def __init__(self, max_request_elements: int, max_elements_in_flight: int):
        self.max_request_elements = max_request_elements
        self.max_elements_in_flight = max_elements_in_flight
        self._lock = threading.Lock()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @contextlib.contextmanager
    def admitted(self, cost: Cost, ticket: Optional[Ticket] = None):
        """Runs the block charged `cost`: on the ticket given (which its owner releases),
        or on a new one released at the end of the block."""
        if ticket is not None:
            ticket.grow(cost)
            yield ticket
            return
        ticket = self.ticket()
        try:
            ticket.grow(cost)
            yield ticket
        finally:
            ticket.release()

    def ticket(self) -> Ticket:
        return Ticket(self)

    def _charge(self, ticket: Ticket, cost: Cost) -> None:
        if cost.elements <= ticket.elements:
            return
        if cost.elements > self.max_request_elements:
            raise resource_exhausted(
                f'The request expands to {cost.elements} elements ({cost.what}), over the '
                f'limit of {self.max_request_elements} per request ({REQUEST_FLAG}): send it '
                f'in smaller parts, or start the server with a higher {REQUEST_FLAG}')
        more = cost.elements - ticket.elements
        with self._lock:
            if self._in_flight + more > self.max_elements_in_flight:
                raise resource_exhausted(
                    f'The server is busy: {self._in_flight} elements in flight, and this '
                    f"request's {cost.elements} would pass the budget of "
                    f'{self.max_elements_in_flight} for all requests under way '
                    f'({IN_FLIGHT_FLAG}): retry later, or start the server with a higher '
                    f'{IN_FLIGHT_FLAG}')
            self._in_flight += more
        ticket.elements = cost.elements

    def _release(self, ticket: Ticket) -> None:
        with self._lock:
            self._in_flight -= ticket.elements
            ticket.elements = 0


# --- What requests cost ------------------------------------------------------------

def predict_cost(request, features_per_example: int,
                 shapes: Dict[str, Tuple[int, ...]]) -> Cost:
    """A PredictRequest: each input's elements (by its checked shape, in `shapes`); a
    string element (a serialized tf.Example, for a model that parses them) counts as
    the features parsed from it."""
    total = 0
    for alias, proto in request.inputs.items():
        count = math.prod(shapes[alias])
        total += count * features_per_example if proto.dtype == types_pb2.DT_STRING else count
    return Cost(total, f'inputs of {total} elements, a string counting '
                       f'{features_per_example} features')


def examples_cost(count: int, features_per_example: int, carried: int = 0) -> Cost:
    """`count` examples (Classify, Regress, MultiInference): each the features the model
    parses from it; `carried`, the features REST examples carry (with their context's),
    instead where more: those are built, one by one, from JSON."""
    parsed = count * features_per_example
    if carried > parsed:
        return Cost(carried, f'{count} examples carrying {carried} features')
    return Cost(parsed, f'{count} examples x {features_per_example} features parsed')


def examples_bytes(count: int, context: int, examples: int, limit: int) -> None:
    """RESOURCE_EXHAUSTED when `count` serialized examples of `examples` bytes in all,
    each with a context of `context` bytes, come to more than `limit` bytes: a small
    request with a large context would otherwise ask for count x context."""
    total = count * context + examples
    if total > limit:
        raise resource_exhausted(
            f'The {count} examples with their context come to {total} bytes, over the '
            f'limit of {limit} ({MESSAGE_FLAG}): send fewer examples or a smaller context, '
            f'or start the server with a higher {MESSAGE_FLAG}')


# Python objects a JSON object or array makes, counted in values (a dict or list is
# 56-64 bytes, a number or string 24-50).
CONTAINER_WEIGHT = 2


def json_cost(body: bytes, features_per_value: int = 1) -> Cost:
    """A JSON body before it is parsed (counted in C, 10 ms for 64 MB): its values (at
    most one more than its commas), each, where every value will be a serialized
    tf.Example, the features parsed from it; or, if more, the objects parsing makes:
    a value each, and an object or array weighing CONTAINER_WEIGHT more (braces in
    strings count too: an overestimate)."""
    values = body.count(b',') + 1
    containers = body.count(b'{') + body.count(b'[')
    expanded = values * features_per_value
    parsed = values + CONTAINER_WEIGHT * containers
    if parsed > expanded:
        return Cost(parsed, f'a JSON body of up to {values} values in {containers} objects '
                            'and arrays')
    what = f'a JSON body of up to {values} values'
    if features_per_value > 1:
        what += f', each an example of {features_per_value} features'
    return Cost(expanded, what)


class ByteBudget:
    """Bytes of requests received and not yet answered (gRPC messages waiting for a
    thread, REST bodies being read or waiting): taken before a request is queued,
    so that a crowd of large requests is refused rather than held in memory."""

    def __init__(self, limit: int, flag: str):
        self.limit = limit
        self._flag = flag
        self._lock = threading.Lock()
        self._held = 0

    @property
    def held(self) -> int:
        return self._held

    def take(self, count: int) -> None:
        """RESOURCE_EXHAUSTED (nothing taken) if `count` more would pass the limit."""
        with self._lock:
            if self._held + count > self.limit:
                raise resource_exhausted(
                    f'The server is busy: {self._held} bytes of requests in flight, and '
                    f'{count} more would pass the limit of {self.limit} ({self._flag}): '
                    f'retry later, or start the server with a higher {self._flag}')
            self._held += count

    def give(self, count: int) -> None:
        with self._lock:
            self._held -= count
