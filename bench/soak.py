"""The model server under a soak: bursts, swaps and junk, with its memory watched.

    .venv/bin/python -m bench.soak [--model_base_path DIR] [--seconds 10]

Against one server process on loopback (a copy of the newest pushed version,
so that versions can be swapped in and out), printed:
  - 64 concurrent REST clients (keep-alive connections, one request after
    another) for --seconds: requests answered, connection resets and errors;
  - 32 gRPC clients while versions are swapped under them: calls, failed calls;
  - the server's RSS at the start, after 30 version swaps, and after 10,000
    failed calls naming random models (targets: both within 30 MB of the start).
Latency at batch 1 is bench/serving.py's to measure.
"""

import common.bootstrap  # noqa: F401  (first: the environment before TensorFlow loads)

# isort: split

import argparse
import base64
import http.client
import json
import os
import random
import shutil
import string
import sys
import tempfile
import threading
import time

import grpc
import psutil
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from bench.serving import MODEL, pushed_model
from common.examples import example
from common.tf_serving import newest_version
from serving import tensors
from serving.local_server import ModelServer

ROW = example({'fare': 9.25, 'payment_type': 'Credit Card', 'trip_start_hour': 19,
               'trip_miles': 1.9}).SerializeToString()


def rest_burst(port: int, clients: int, seconds: float):
    """(answered, resets, other errors) of `clients` keep-alive REST clients."""
    body = json.dumps({'instances': [{'b64': base64.b64encode(ROW).decode()}]})
    counts = {'answered': 0, 'resets': 0, 'errors': 0}
    lock, stop = threading.Lock(), threading.Event()

    def client():
        connection = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
        while not stop.is_set():
            try:
                connection.request('POST', f'/v1/models/{MODEL}:predict', body)
                response = connection.getresponse()
                response.read()
                key = 'answered' if response.status == 200 else 'errors'
            except ConnectionResetError:
                key = 'resets'
                connection = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
            except (OSError, http.client.HTTPException):
                key = 'errors'
                connection = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
            with lock:
                counts[key] += 1
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return counts


def _available(models) -> list:
    response = models.GetModelStatus(get_model_status_pb2.GetModelStatusRequest(
        model_spec={'name': MODEL}), timeout=30)
    return [s.version for s in response.model_version_status if s.state == 30]


def swap(base: str, source: str, version: int, models) -> None:
    """Pushes version (saved_model.pb last), waits until it serves, removes the one before."""
    shutil.copytree(source, os.path.join(base, str(version)),
                    ignore=shutil.ignore_patterns('saved_model.pb'))
    shutil.copy(os.path.join(source, 'saved_model.pb'), os.path.join(base, str(version)))
    while _available(models) != [version]:
        time.sleep(0.05)
    shutil.rmtree(os.path.join(base, str(version - 1)))


def grpc_under_swaps(target: str, base: str, source: str, models, clients: int, swaps: int):
    """(calls, failed calls) of `clients` gRPC clients while `swaps` versions come and go."""
    counts, lock, stop = {'calls': 0, 'failed': 0}, threading.Lock(), threading.Event()
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.inputs['examples'].CopyFrom(tensors.strings_proto([ROW]))

    def client():
        stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(target))
        while not stop.is_set():
            try:
                stub.Predict(request, timeout=30)
                key = 'calls'
            except grpc.RpcError:
                key = 'failed'
            with lock:
                counts[key] += 1
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    first = max(_available(models))
    for version in range(first + 1, first + 1 + swaps):
        swap(base, source, version, models)
    stop.set()
    for thread in threads:
        thread.join()
    return counts


def failed_calls(target: str, count: int) -> None:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(target))
    request = predict_pb2.PredictRequest()
    request.inputs['examples'].CopyFrom(tensors.strings_proto([ROW]))
    for _ in range(count):
        request.model_spec.name = ''.join(random.choices(string.ascii_letters, k=64))
        try:
            stub.Predict(request, timeout=30)
        except grpc.RpcError:
            continue    # NOT_FOUND, as it should be: the point is the server's memory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model_base_path', help='directory of pushed versions')
    parser.add_argument('--seconds', type=float, default=10.0)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix='bench_soak_')
    pushed = args.model_base_path or pushed_model(workdir)
    source = os.path.join(pushed, str(newest_version(pushed)))
    base = os.path.join(workdir, MODEL)
    shutil.copytree(source, os.path.join(base, '1'))
    with ModelServer(f'--model_name={MODEL}', f'--model_base_path={base}',
                     '--file_system_poll_wait_seconds=1') as server:
        process = psutil.Process(server.process.pid)
        models = model_service_pb2_grpc.ModelServiceStub(server.channel())
        swap(base, source, 2, models)        # TensorFlow's one-time costs of a second session
        time.sleep(2.5)
        start = process.memory_info().rss
        burst = rest_burst(server.rest_port, 64, args.seconds)
        print(f'REST, 64 clients, {args.seconds:.0f} s: {burst["answered"]} answered, '
              f'{burst["resets"]} resets, {burst["errors"]} errors', flush=True)
        swaps = grpc_under_swaps(server.target, base, source, models, 32, 30)
        time.sleep(2.5)                      # unloaded versions are collected at the polls
        after_swaps = process.memory_info().rss
        print(f'gRPC, 32 clients, 30 version swaps: {swaps["calls"]} calls, '
              f'{swaps["failed"]} failed', flush=True)
        failed_calls(server.target, 10_000)
        after_failures = process.memory_info().rss
    mb = 1 << 20
    print(f'RSS: start {start / mb:.0f} MB, after 30 swaps {after_swaps / mb:.0f} MB '
          f'({(after_swaps - start) / mb:+.1f}), after 10,000 failed calls with random model '
          f'names {after_failures / mb:.0f} MB ({(after_failures - start) / mb:+.1f})')
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
