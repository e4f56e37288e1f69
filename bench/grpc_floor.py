"""The floor under any gRPC call here: a bare unary echo on grpc.aio and on grpc's
threaded server, no model, no protobuf parsing, in a process of its own.

    .venv/bin/python -m bench.grpc_floor [--iterations N] [--bytes B]

bench/serving.py prints these beside the model server's GetModelStatus and Predict:
what the server adds to a call is its p50 less the bare echo of the same server kind.
"""

import argparse
import asyncio
import multiprocessing
import sys
import time
from concurrent import futures
from typing import Callable

import grpc
import numpy as np

SERVICE, METHOD = 'bench.Echo', 'Echo'
KINDS = ('grpc.aio', 'threaded')


def _same(data: bytes) -> bytes:
    return data


def _handler(behavior: Callable) -> grpc.GenericRpcHandler:
    method = grpc.unary_unary_rpc_method_handler(
        behavior, request_deserializer=_same, response_serializer=_same)
    return grpc.method_handlers_generic_handler(SERVICE, {METHOD: method})


def _serve_threaded(ports) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(4))
    server.add_generic_rpc_handlers((_handler(lambda request, context: request),))
    ports.put(server.add_insecure_port('127.0.0.1:0'))
    server.start()
    server.wait_for_termination()


def _serve_aio(ports) -> None:
    async def echo(request, context):
        return request

    async def serve():
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((_handler(echo),))
        ports.put(server.add_insecure_port('127.0.0.1:0'))
        await server.start()
        await server.wait_for_termination()
    asyncio.run(serve())


def echo_p50(kind: str, size: int, iterations: int) -> float:
    """p50 milliseconds of a blocking client's echo of `size` bytes from a bare server
    of `kind` (one of KINDS) in a process of its own."""
    ports: 'multiprocessing.Queue[int]' = multiprocessing.Queue()
    target = _serve_aio if kind == 'grpc.aio' else _serve_threaded
    process = multiprocessing.Process(target=target, args=(ports,), daemon=True)
    process.start()
    try:
        port = ports.get(timeout=30)
        with grpc.insecure_channel(f'127.0.0.1:{port}') as channel:
            call = channel.unary_unary(f'/{SERVICE}/{METHOD}', request_serializer=_same,
                                       response_deserializer=_same)
            payload = b'x' * size
            for _ in range(200):
                call(payload, timeout=10)
            samples = []
            for _ in range(iterations):
                started = time.perf_counter()
                call(payload, timeout=10)
                samples.append(time.perf_counter() - started)
        return float(np.percentile(samples, 50)) * 1e3
    finally:
        process.kill()
        process.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--iterations', type=int, default=2000)
    parser.add_argument('--bytes', type=int, default=300, help="the echo's size")
    args = parser.parse_args()
    print(f'bare unary echo of {args.bytes} bytes, p50 ms (grpc {grpc.__version__})')
    for kind in KINDS:
        print(f'  {kind:<10}{echo_p50(kind, args.bytes, args.iterations):8.3f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
