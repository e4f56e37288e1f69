"""Latency and throughput of serving/ on the taxi model, against the in-process call.

    .venv/bin/python -m bench.serving [--model_base_path DIR] [--seconds S]

Without --model_base_path it first runs the pipeline to get a pushed model.
Printed, in one run on this machine:
  - p50/p99 latency at batch 1 and 64: the in-process SavedModel call
    (signatures['serving_default']), the same model run as the server runs it
    (serving.servable.Servable: a Session callable in the calling thread; at batch
    1 also after 0.5 ms idle between calls, as a server's thread runs it), gRPC
    Predict (official stub) on TCP loopback with batching off and on, and on a
    UNIX socket (--grpc_socket_path), and REST :predict (row format, keep-alive);
    GetModelStatus, and a bare echo of a batch-1 request's size on grpc.aio and on
    grpc's threaded server (bench/grpc_floor.py): the floor under any call; and a
    one-input float model (x @ w, 4 floats in) in process and over gRPC: what a
    Predict costs beside its model's work;
  - throughput with 8 concurrent gRPC clients (batch 1), batching off and on,
    against a single-threaded in-process loop; failed calls are counted.
"""

import common.bootstrap  # noqa: F401  (first: the environment before TensorFlow loads)

# isort: split

import argparse
import base64
import functools
import glob
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from bench.grpc_floor import KINDS, echo_p50
from common.examples import example
from pipeline.config import DEFAULT_DATA_ROOT, DEFAULT_SCHEMA_FILE
from serving import tensors
from serving.client import read_csv, schema_types
from serving.local_server import REPO, ModelServer
from serving.servable import Servable

MODEL = 'chicago_taxi'
CLIENTS = 8


def percentiles(samples):
    return np.percentile(samples, 50) * 1e3, np.percentile(samples, 99) * 1e3


def timed(call, iterations: int, warmup: int = 50, idle: float = 0.0):
    """Seconds of each call; `idle` seconds asleep before each (a server's thread wakes
    for each request: its caches are no longer warm)."""
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(iterations):
        if idle:
            time.sleep(idle)
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def grpc_call(target: str, batch):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(target))
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.inputs['examples'].CopyFrom(tensors.strings_proto(batch))
    return lambda: stub.Predict(request, timeout=30)


def status_call(target: str, _batch=None):
    """GetModelStatus: a round trip with almost no server work, the floor of any call."""
    stub = model_service_pb2_grpc.ModelServiceStub(grpc.insecure_channel(target))
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = MODEL
    return lambda: stub.GetModelStatus(request, timeout=30)


def rest_call(port: int, batch):
    connection = http.client.HTTPConnection('127.0.0.1', port)
    body = json.dumps({'instances': [{'b64': base64.b64encode(r).decode()} for r in batch]})

    def call():
        connection.request('POST', f'/v1/models/{MODEL}:predict', body,
                           {'Content-Type': 'application/json'})
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f'REST {response.status}')
    return call


def throughput(target: str, record: bytes, seconds: float, make_call=grpc_call):
    """(calls per second, failed calls) with CLIENTS threads, each its own channel."""
    done, failed, stop = [0] * CLIENTS, [0] * CLIENTS, threading.Event()

    def client(i):
        call = make_call(target, [record])
        while not stop.is_set():
            try:
                call()
                done[i] += 1
            except grpc.RpcError:
                failed[i] += 1
    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)                       # warm up
    start_count, started = sum(done), time.perf_counter()
    time.sleep(seconds)
    rate = (sum(done) - start_count) / (time.perf_counter() - started)
    stop.set()
    for thread in threads:
        thread.join()
    return rate, sum(failed)


FLOAT_MODEL = 'one_float_input'


class _FloatModel(tf.Module):
    """The smallest model a Predict can reach: its run takes microseconds, so a call's
    time is the server's and gRPC's."""

    def __init__(self):
        super().__init__()
        self.w = tf.Variable(tf.ones([4, 1]))

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name='x')])
    def serve(self, x):
        return {'y': tf.matmul(x, self.w)}


def float_model(workdir: str) -> str:
    """A model base path holding _FloatModel as version 1."""
    base = os.path.join(workdir, FLOAT_MODEL)
    model = _FloatModel()
    tf.saved_model.save(model, os.path.join(base, '1'), signatures={'serving_default': model.serve})
    return base


def float_call(target: str):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(target))
    request = predict_pb2.PredictRequest()
    request.model_spec.name = FLOAT_MODEL
    request.inputs['x'].CopyFrom(tf.make_tensor_proto(np.ones([1, 4], np.float32)))
    return lambda: stub.Predict(request, timeout=30)


def float_latency(iterations: int):
    """(in-process p50/p99, gRPC Predict p50/p99) of the one-float-input model, b=1."""
    base = float_model(tempfile.mkdtemp(prefix='bench_serving_'))
    serve = tf.saved_model.load(os.path.join(base, '1')).signatures['serving_default']
    values = tf.constant(np.ones([1, 4], np.float32))
    in_process = percentiles(timed(lambda: serve(x=values), iterations))
    with ModelServer(f'--model_name={FLOAT_MODEL}', f'--model_base_path={base}',
                     rest=False) as server:
        return in_process, percentiles(timed(float_call(server.target), iterations))


def pushed_model(workdir: str) -> str:
    home = os.path.join(workdir, 'home')
    subprocess.run([sys.executable, '-m', 'runner', 'local', '--home', home], check=True,
                   cwd=REPO, stdout=subprocess.DEVNULL)
    return os.path.join(home, 'serving_model', MODEL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model_base_path', help='directory of pushed versions')
    parser.add_argument('--iterations', type=int, default=2000)
    parser.add_argument('--seconds', type=float, default=10.0, help='per throughput run')
    args = parser.parse_args()
    base = args.model_base_path or pushed_model(tempfile.mkdtemp(prefix='bench_serving_'))
    rows = read_csv(os.path.join(DEFAULT_DATA_ROOT, 'data.csv'), schema_types(DEFAULT_SCHEMA_FILE))
    records = [example(row).SerializeToString() for row in rows[:64]]
    batches = {1: records[:1], 64: records}

    version = max(glob.glob(os.path.join(base, '*')), key=lambda p: int(os.path.basename(p)))
    serve = tf.saved_model.load(version).signatures['serving_default']
    servable = Servable(MODEL, int(os.path.basename(version)), version)
    latency = {}
    for size, batch in batches.items():
        latency[('in-process', size)] = percentiles(
            timed(lambda batch=batch: serve(examples=tf.constant(batch)), args.iterations))
        array = np.array(batch, dtype=object)
        run = functools.partial(servable.run, 'serving_default', {'examples': array},
                                ['probabilities'])
        latency[('Servable', size)] = percentiles(timed(run, args.iterations))
        if size == 1:
            latency[('Servable idle', size)] = percentiles(timed(run, args.iterations,
                                                                 idle=0.0005))
    bare = {kind: echo_p50(kind, len(records[0]), args.iterations) for kind in KINDS}
    in_process_rate = args.iterations / sum(timed(lambda: serve(examples=tf.constant(batches[1])),
                                                  args.iterations))

    flags = [f'--model_name={MODEL}', f'--model_base_path={base}']
    socket = os.path.join(tempfile.mkdtemp(prefix='bench_serving_'), 'grpc.sock')
    with ModelServer(*flags, f'--grpc_socket_path={socket}') as server:
        for size, batch in batches.items():
            latency[('gRPC', size)] = percentiles(timed(grpc_call(server.target, batch),
                                                        args.iterations))
            latency[('gRPC unix', size)] = percentiles(timed(grpc_call(f'unix:{socket}', batch),
                                                             args.iterations))
            latency[('REST', size)] = percentiles(timed(rest_call(server.rest_port, batch),
                                                        args.iterations))
        latency[('gRPC floor', 1)] = percentiles(timed(status_call(server.target),
                                                       args.iterations))
        unbatched = throughput(server.target, records[0], args.seconds)
        floor_rate = throughput(server.target, records[0], args.seconds, status_call)
    # One batch thread: in one Python process, a second thread running batches
    # mostly competes for the GIL (measured: 1400 calls/s with 2, 1635 with 1).
    batching = os.path.join(tempfile.mkdtemp(prefix='bench_serving_'), 'batching.txt')
    with open(batching, 'w') as f:
        f.write('max_batch_size { value: 64 }\nbatch_timeout_micros { value: 0 }\n'
                'num_batch_threads { value: 1 }\n')
    with ModelServer(*flags, '--enable_batching', f'--batching_parameters_file={batching}',
                     rest=False) as server:
        for size, batch in batches.items():
            latency[('gRPC+batch', size)] = percentiles(timed(grpc_call(server.target, batch),
                                                              args.iterations))
        batched = throughput(server.target, records[0], args.seconds)
    latency[('in-process', 'float')], latency[('gRPC', 'float')] = float_latency(args.iterations)

    print(f'\nlatency, ms        {"p50":>8}{"p99":>8}   (taxi model, {os.cpu_count()} CPUs)')
    for size in batches:
        for path in ('in-process', 'Servable', 'Servable idle', 'gRPC', 'gRPC unix', 'gRPC+batch',
                     'REST'):
            if (path, size) in latency:
                p50, p99 = latency[(path, size)]
                print(f'  {path:<13} b={size:<3}{p50:8.3f}{p99:8.3f}')
    p50, p99 = latency[('gRPC floor', 1)]
    print(f'  GetModelStatus        {p50:8.3f}{p99:8.3f}   (a call with no model work)')
    for kind, p50 in bare.items():
        print(f'  bare {kind:<10} echo  {p50:8.3f}           (no server of ours: bench.grpc_floor)')
    for path in ('in-process', 'gRPC'):
        p50, p99 = latency[(path, 'float')]
        print(f'  {path:<13} b=1  {p50:8.3f}{p99:8.3f}   (one float input: {FLOAT_MODEL})')
    for size in batches:
        ratio = latency[('gRPC', size)][0] / latency[('in-process', size)][0]
        print(f'gRPC p50 / in-process p50 at batch {size}: {ratio:.2f}  (target <= 2)')
    print('\nthroughput, calls/s (batch 1)')
    print(f'  in-process, one thread          {in_process_rate:8.0f}')
    print(f'  gRPC, {CLIENTS} clients, batching off   {unbatched[0]:8.0f}   failed: {unbatched[1]}')
    print(f'  gRPC, {CLIENTS} clients, batching on    {batched[0]:8.0f}   failed: {batched[1]}')
    print(f'  GetModelStatus, {CLIENTS} clients        {floor_rate[0]:8.0f}   (no model work)')
    print(f'batching on / in-process loop: {batched[0] / in_process_rate:.2f}  (target >= 1)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
