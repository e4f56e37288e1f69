"""The model server under a soak and under attack, with its memory watched.

    .venv/bin/python -m bench.soak [--model_base_path DIR] [--seconds 10]
                                   [--attack-only | --bursts-only]

Against one server process on loopback with the default limits (a copy of the
newest pushed version, so that versions can be swapped in and out), printed:
  - 64 concurrent REST clients (keep-alive connections, one request after
    another) for --seconds: requests answered, connection resets and errors;
  - 32 gRPC clients while versions are swapped under them: calls, failed calls;
  - the server's RSS at the start, after 30 version swaps, and after 10,000
    failed calls naming random models (targets: both within 30 MB of the start);
  - the attack mix, as issue 20 tried it: an 8 MB gRPC Predict of 4M empty
    examples and a 12 MB REST body of 3M empty instances (target: refused, or
    under 1 GB of RSS); 48 concurrent Predicts of 100k examples while another
    process checks health (gRPC Health.Check and REST model status) every 50 ms
    (target: worst health answer under 1 s, goal 100 ms); 300 connections
    trickling header bytes while REST clients call (target: answers within 2 s);
    a transform_features Predict of 0.2 MB (its reply's size and time); malformed
    inputs (target: no INTERNAL / 500); peak RSS over the attack, and RSS 5 s
    after it against before it;
  - bursts (issue 30), each with the server's RSS before it, at its peak and 10 s
    after it (target: within 50 MB of before): 2,000 concurrent small gRPC
    Predicts, the same cancelled by their clients, 64 REST clients for 5 s,
    30 version swaps, wide requests (one example of 300k features the model does
    not parse, over REST :classify and gRPC Classify, and the largest REST
    :classify of the model's own features the limits admit) with the memory
    each took against its size (target: at most ~10x) and health checked every
    50 ms from another process (target: under 100 ms).
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
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time

import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
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


# --- The attack mix (issue 20) ------------------------------------------------------

MB = 1 << 20
BIG_CHANNEL = [('grpc.max_send_message_length', 1 << 30),
               ('grpc.max_receive_message_length', 1 << 30)]


class PeakRss:
    """Samples a process's RSS every 20 ms; peak() is the highest seen since reset()."""

    def __init__(self, process: psutil.Process):
        self._process, self._peak = process, 0
        self._stop = threading.Event()
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while not self._stop.wait(0.02):
            self._peak = max(self._peak, self._process.memory_info().rss)

    def reset(self) -> int:
        self._peak = self._process.memory_info().rss
        return self._peak

    def peak(self) -> int:
        return max(self._peak, self._process.memory_info().rss)

    def stop(self):
        self._stop.set()


def examples_request(count: int, record: bytes = b'', signature: str = 'serving_default'):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.model_spec.signature_name = signature
    tensor = request.inputs['examples']
    tensor.dtype = types_pb2.DT_STRING
    tensor.tensor_shape.dim.add(size=count)
    tensor.string_val.extend([record] * count)
    return request


def grpc_outcome(stub, request, timeout: float = 120):
    """(status name, seconds, reply bytes) of one Predict."""
    started = time.perf_counter()
    try:
        reply = stub.Predict(request, timeout=timeout)
        return 'OK', time.perf_counter() - started, reply.ByteSize()
    except grpc.RpcError as error:
        return error.code().name, time.perf_counter() - started, 0


def rest_outcome(port: int, method: str, path: str, body: bytes = None, timeout: float = 120):
    """(HTTP status, seconds, reply bytes) of one REST call on a new connection."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        connection.request(method, path, body)
        response = connection.getresponse()
        return response.status, time.perf_counter() - started, len(response.read())
    finally:
        connection.close()


def tiny_examples(server, stub, rss: PeakRss) -> None:
    before = rss.reset()
    code, seconds, _ = grpc_outcome(stub, examples_request(4_000_000))
    print(f'8 MB gRPC Predict of 4M empty examples: {code} in {seconds:.2f} s, '
          f'peak RSS +{(rss.peak() - before) / MB:.0f} MB', flush=True)
    before = rss.reset()
    body = b'{"instances": [' + b','.join([b'""'] * 3_000_000) + b']}'
    status, seconds, _ = rest_outcome(server.rest_port, 'POST', f'/v1/models/{MODEL}:predict',
                                      body)
    print(f'{len(body) / MB:.0f} MB REST body of 3M empty instances: {status} in '
          f'{seconds:.2f} s, peak RSS +{(rss.peak() - before) / MB:.0f} MB', flush=True)


def probe_health(target: str, rest_port: int, seconds: float) -> None:
    """--probe: checks health every 50 ms for `seconds`, from a process of its own (the
    attacking clients' threads would otherwise delay it); prints [when, seconds] of
    each check (seconds infinite for a failed one)."""
    health = health_pb2_grpc.HealthStub(grpc.insecure_channel(target))
    health.Check(health_pb2.HealthCheckRequest(), timeout=30)
    print('ready', flush=True)
    latencies = {'grpc': [], 'rest': []}
    deadline = time.monotonic() + seconds
    stop = threading.Event()
    signal.signal(signal.SIGUSR1, lambda *_: stop.set())     # the measurement is over
    while time.monotonic() < deadline and not stop.is_set():
        started, when = time.perf_counter(), time.time()
        try:
            health.Check(health_pb2.HealthCheckRequest(), timeout=10)
            latencies['grpc'].append([when, time.perf_counter() - started])
        except grpc.RpcError:
            latencies['grpc'].append([when, float('inf')])
        when = time.time()
        try:
            status, took, _ = rest_outcome(rest_port, 'GET', f'/v1/models/{MODEL}', timeout=10)
        except OSError:
            status, took = 0, float('inf')
        latencies['rest'].append([when, took if status == 200 else float('inf')])
        time.sleep(0.05)
    print(json.dumps(latencies), flush=True)


def heavy_predicts(server, rss: PeakRss, clients: int = 48, examples: int = 100_000) -> None:
    probe = subprocess.Popen([sys.executable, '-m', 'bench.soak', '--probe', server.target,
                              str(server.rest_port), '20'], stdout=subprocess.PIPE, text=True)
    try:
        assert probe.stdout.readline().strip() == 'ready'
        request = examples_request(examples, ROW)
        outcomes = []

        def client():
            stub = prediction_service_pb2_grpc.PredictionServiceStub(
                grpc.insecure_channel(server.target, options=BIG_CHANNEL))
            outcomes.append(grpc_outcome(stub, request))
        before = rss.reset()
        started = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        took = time.perf_counter() - started
        latencies = json.loads(probe.stdout.readline())
    finally:
        probe.kill()
        probe.wait()
    codes = {}
    for code, _, _ in outcomes:
        codes[code] = codes.get(code, 0) + 1
    print(f'{clients} concurrent Predicts of {examples // 1000}k examples '
          f'({request.ByteSize() / MB:.1f} MB each): {codes} in {took:.1f} s, peak RSS '
          f'+{(rss.peak() - before) / MB:.0f} MB', flush=True)
    for kind, checks in latencies.items():
        print(f'  health ({kind}, every 50 ms, 20 s from a process of its own): '
              f'{_health(c for _, c in checks)}', flush=True)


def slowloris(server, connections: int = 300, seconds: float = 15.0) -> None:
    """`connections` sockets trickling header bytes (one a second each) while REST
    clients call; prints the slowest REST answer."""
    stop = threading.Event()
    sockets = []
    for _ in range(connections):
        sockets.append(socket.create_connection(('127.0.0.1', server.rest_port)))
        sockets[-1].sendall(f'POST /v1/models/{MODEL}:predict HTTP/1.1\r\n'.encode())

    def trickle():
        while not stop.wait(1.0):
            for s in sockets:
                try:
                    s.sendall(b'X')
                except OSError:
                    continue      # closed by the server: that is its header timeout
    threading.Thread(target=trickle, daemon=True).start()
    body = json.dumps({'instances': [{'b64': base64.b64encode(ROW).decode()}]}).encode()
    calls = []
    deadline = time.monotonic() + seconds
    time.sleep(1)
    while time.monotonic() < deadline:
        calls.append(rest_outcome(server.rest_port, 'POST', f'/v1/models/{MODEL}:predict',
                                  body, timeout=30))
        calls.append(rest_outcome(server.rest_port, 'GET', f'/v1/models/{MODEL}', timeout=30))
    stop.set()
    for s in sockets:
        s.close()
    statuses = sorted({status for status, _, _ in calls})
    print(f'REST while {connections} connections trickle header bytes: {len(calls)} calls, '
          f'statuses {statuses}, slowest {max(t for _, t, _ in calls) * 1e3:.0f} ms', flush=True)


def big_reply(server, stub) -> None:
    request = examples_request(110_000, b'', 'transform_features')   # just under the cap
    code, seconds, size = grpc_outcome(stub, request)
    print(f'transform_features Predict of {request.ByteSize() / MB:.2f} MB (110k empty '
          f'examples): {code} in {seconds:.1f} s, reply {size / MB:.1f} MB', flush=True)
    body = json.dumps({'signature_name': 'transform_features',
                       'instances': [''] * 110_000}).encode()
    status, seconds, size = rest_outcome(server.rest_port, 'POST', f'/v1/models/{MODEL}:predict',
                                         body)
    print(f'  the same over REST ({len(body) / MB:.2f} MB): {status} in {seconds:.1f} s, reply '
          f'{size / MB:.1f} MB', flush=True)


def malformed(server, stub) -> None:
    """Malformed inputs: none may answer INTERNAL or 500."""
    cases = []
    for dims, dtype in (([1] * 33, types_pb2.DT_STRING), ([0, 1 << 62], types_pb2.DT_STRING),
                        ([1], 9999)):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = MODEL
        tensor = request.inputs['examples']
        tensor.dtype = dtype
        for size in dims:
            tensor.tensor_shape.dim.add(size=size)
        cases.append(grpc_outcome(stub, request)[0])
    for path in (f'/v1/models/{MODEL}/versions/{"9" * 5000}',
                 f'/v1/models/{MODEL}/versions/{"9" * 5000}:predict'):
        cases.append(str(rest_outcome(server.rest_port, 'GET' if ':' not in path else 'POST',
                                      path, b'{"instances": [""]}' if ':' in path else None)[0]))
    bad = [c for c in cases if c in ('INTERNAL', 'UNKNOWN', '500')]
    print(f'malformed inputs (33 dims, dims [0, 2^62], dtype 9999, a version of 5,000 digits '
          f'twice): {cases}; INTERNAL/500: {len(bad)}', flush=True)


def attack_mix(server) -> None:
    process = psutil.Process(server.process.pid)
    rss = PeakRss(process)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(
        grpc.insecure_channel(server.target, options=BIG_CHANNEL))
    start = rss.reset()
    try:
        tiny_examples(server, stub, rss)
        heavy_predicts(server, rss)
        slowloris(server)
        big_reply(server, stub)
        malformed(server, stub)
        time.sleep(5)
        after = process.memory_info().rss
    finally:
        rss.stop()
    peak = max(rss.peak(), after)
    print(f'attack RSS: before {start / MB:.0f} MB, peak {peak / MB:.0f} MB, 5 s after '
          f'{after / MB:.0f} MB ({(after - start) / MB:+.0f})', flush=True)


# --- Bursts, the memory they keep and what wide requests cost (issue 30) -------------

def _health(seconds) -> str:
    values = sorted(seconds)
    if not values:
        return 'no checks'
    return (f'{len(values)} checks, p50 {values[len(values) // 2] * 1e3:.0f} ms, p99 '
            f'{values[int(len(values) * 0.99)] * 1e3:.0f} ms, worst {values[-1] * 1e3:.0f} ms')


def measured_burst(label: str, process: psutil.Process, rss: PeakRss, burst,
                   windows: list) -> None:
    """Runs burst(rss_before) (which returns what to say of it); prints the server's RSS
    before it, at its peak and 10 s after it. (label, start, end) of the burst goes to
    `windows`, 10 s after included (the health checks of that time are its)."""
    before = rss.reset()
    started = time.time()
    said = burst(before)
    peak = rss.peak()
    time.sleep(10)
    after = process.memory_info().rss
    number = f'[{len(windows) + 1}]'
    print(f'{number} {label}: {said}; RSS before {before / MB:.0f} MB, peak {peak / MB:.0f} MB '
          f'(+{(peak - before) / MB:.0f}), 10 s after {after / MB:.0f} MB '
          f'({(after - before) / MB:+.0f})', flush=True)
    windows.append((number, started, time.time()))


def _codes(outcomes) -> dict:
    counted = {}
    for code in outcomes:
        counted[code] = counted.get(code, 0) + 1
    return counted


def concurrent_predicts(target: str, count: int, cancel: bool = False,
                        connections: int = 64) -> str:
    """`count` batch-1 Predicts sent at once over `connections` channels (cancelled by
    the client 50 ms after they were sent, if `cancel`); what came back."""
    channels = [grpc.insecure_channel(target, options=[('grpc.use_local_subchannel_pool', 1)])
                for _ in range(connections)]
    stubs = [prediction_service_pb2_grpc.PredictionServiceStub(c) for c in channels]
    request = examples_request(1, ROW)
    calls = [stubs[i % len(stubs)].Predict.future(request, timeout=120) for i in range(count)]
    if cancel:
        time.sleep(0.05)
        for call in calls:
            call.cancel()
    outcomes = []
    for call in calls:
        try:
            call.result()
            outcomes.append('OK')
        except grpc.FutureCancelledError:
            outcomes.append('CANCELLED')
        except grpc.RpcError as error:
            outcomes.append(error.code().name)
    for channel in channels:
        channel.close()
    return (f'{count} concurrent batch-1 Predicts on {connections} connections'
            f'{", cancelled" if cancel else ""}: {_codes(outcomes)}')


WIDE_FEATURES = 300_000


def wide_json_body(features: int) -> bytes:
    """REST :classify of one example carrying `features` features the model does not parse."""
    carried = ','.join(f'"f{i}": 1.5' for i in range(features))
    return ('{"signature_name": "classification", "examples": [{' + carried + '}]}').encode()


def wide_classify_request(features: int):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = MODEL
    request.model_spec.signature_name = 'classification'
    carried = request.input.example_list.examples.add().features.feature
    for i in range(features):
        carried[f'f{i}'].float_list.value.append(1.5)
    return request


def own_features_body(count: int) -> bytes:
    """REST :classify of `count` examples of the taxi model's own features."""
    row = {'fare': 9.25, 'payment_type': 'Credit Card', 'trip_start_hour': 19,
           'trip_miles': 1.9}
    return json.dumps({'signature_name': 'classification', 'examples': [row] * count}).encode()


def at_once(call, times: int) -> list:
    """call() from `times` threads at once; their results."""
    results = [None] * times

    def run(index):
        results[index] = call()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def wide_requests(server, process: psutil.Process, rss: PeakRss, windows: list) -> None:
    """Wide requests, 4 at once, each kind: what they got, how long they took, the memory
    they took against their size."""
    path = f'/v1/models/{MODEL}:classify'
    stub = prediction_service_pb2_grpc.PredictionServiceStub(
        grpc.insecure_channel(server.target, options=BIG_CHANNEL))
    wide_grpc = wide_classify_request(WIDE_FEATURES)
    cases = [
        (f'REST :classify, one example of {WIDE_FEATURES // 1000}k unknown features',
         wide_json_body(WIDE_FEATURES),
         lambda body: rest_outcome(server.rest_port, 'POST', path, body)[:2]),
        (f'gRPC Classify, one example of {WIDE_FEATURES // 1000}k unknown features',
         wide_grpc.SerializeToString(),
         lambda _: grpc_call_outcome(stub.Classify, wide_grpc)),
        ("REST :classify, 100k examples of 4 of the model's features",
         own_features_body(100_000),
         lambda body: rest_outcome(server.rest_port, 'POST', path, body)[:2]),
    ]
    for label, body, call in cases:
        def burst(before, label=label, body=body, call=call):
            started = time.perf_counter()
            outcomes = at_once(lambda: call(body), 4)
            took = time.perf_counter() - started
            grown = rss.peak() - before
            return (f'{label} ({len(body) / MB:.1f} MB), 4 at once: '
                    f'{_codes(str(code) for code, _ in outcomes)} in {took:.1f} s, '
                    f'peak +{grown / (4 * len(body)):.0f}x their size')
        measured_burst('wide', process, rss, burst, windows)


def grpc_call_outcome(call, request, timeout: float = 120):
    """(status name, seconds) of one unary call."""
    started = time.perf_counter()
    try:
        call(request, timeout=timeout)
        return 'OK', time.perf_counter() - started
    except grpc.RpcError as error:
        return error.code().name, time.perf_counter() - started


def bursts(server, base: str, source: str) -> None:
    """Each kind of burst with the RSS it leaves behind (issue 30); health checked every
    50 ms throughout, from a process of its own."""
    process = psutil.Process(server.process.pid)
    rss = PeakRss(process)
    models = model_service_pb2_grpc.ModelServiceStub(server.channel())
    probe = subprocess.Popen([sys.executable, '-m', 'bench.soak', '--probe', server.target,
                              str(server.rest_port), '900'], stdout=subprocess.PIPE, text=True)
    try:
        assert probe.stdout.readline().strip() == 'ready'
        rest_burst(server.rest_port, 8, 2)             # first-use costs of each path
        concurrent_predicts(server.target, 200)
        time.sleep(2)
        print(f'bursts (RSS at start {process.memory_info().rss / MB:.0f} MB):', flush=True)
        windows: list = []
        measured_burst('gRPC', process, rss,
                       lambda _: concurrent_predicts(server.target, 5000), windows)
        measured_burst('gRPC', process, rss,
                       lambda _: concurrent_predicts(server.target, 5000, cancel=True), windows)
        measured_burst('REST', process, rss, lambda _: '64 clients for 5 s: {answered} answered, '
                       '{resets} resets, {errors} errors'.format(
                           **rest_burst(server.rest_port, 64, 5)), windows)
        measured_burst('swaps', process, rss, lambda _: '30 version swaps under 32 gRPC clients: '
                       '{calls} calls, {failed} failed'.format(
                           **grpc_under_swaps(server.target, base, source, models, 32, 30)),
                       windows)
        wide_requests(server, process, rss, windows)
        probe.send_signal(signal.SIGUSR1)
        latencies = json.loads(probe.stdout.readline())
    finally:
        rss.stop()
        probe.kill()
        probe.wait()
    print('health, every 50 ms from a process of its own, during each burst and the 10 s after:',
          flush=True)
    for label, started, ended in windows:
        for kind, checks in latencies.items():
            print(f'  {label} ({kind}): '
                  f'{_health(c for when, c in checks if started <= when <= ended)}', flush=True)


def soak(server, base: str, source: str, seconds: float) -> None:
    process = psutil.Process(server.process.pid)
    models = model_service_pb2_grpc.ModelServiceStub(server.channel())
    swap(base, source, 2, models)        # TensorFlow's one-time costs of a second session
    time.sleep(2.5)
    start = process.memory_info().rss
    burst = rest_burst(server.rest_port, 64, seconds)
    print(f'REST, 64 clients, {seconds:.0f} s: {burst["answered"]} answered, '
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
          f'names {after_failures / mb:.0f} MB ({(after_failures - start) / mb:+.1f})',
          flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model_base_path', help='directory of pushed versions')
    parser.add_argument('--seconds', type=float, default=10.0)
    only = parser.add_mutually_exclusive_group()
    only.add_argument('--attack-only', action='store_true', help='the attack mix alone')
    only.add_argument('--bursts-only', action='store_true', help='the bursts (issue 30) alone')
    parser.add_argument('--probe', nargs=3, metavar=('TARGET', 'REST_PORT', 'SECONDS'),
                        help=argparse.SUPPRESS)    # the health prober's own process
    args = parser.parse_args()
    if args.probe:
        probe_health(args.probe[0], int(args.probe[1]), float(args.probe[2]))
        return 0
    workdir = tempfile.mkdtemp(prefix='bench_soak_')
    pushed = args.model_base_path or pushed_model(workdir)
    source = os.path.join(pushed, str(newest_version(pushed)))
    base = os.path.join(workdir, MODEL)
    shutil.copytree(source, os.path.join(base, '1'))
    with ModelServer(f'--model_name={MODEL}', f'--model_base_path={base}',
                     '--file_system_poll_wait_seconds=1') as server:
        if not (args.attack_only or args.bursts_only):
            soak(server, base, source, args.seconds)
        if not args.attack_only:
            bursts(server, base, source)
        if not args.bursts_only:
            attack_mix(server)
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
