"""Runs `python -m serving.server` as a child process on loopback: for tests, benches
and canaries that need a real server and must wait until it serves."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import Any, Optional, Sequence, Tuple

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class ModelServer:
    """A server process; `with ModelServer(flags...) as server:` waits until it is SERVING."""

    def __init__(self, *flags: str, rest: bool = True, ca: Optional[bytes] = None,
                 startup_seconds: float = 180):
        self.ca = ca   # the CA of the server's TLS certificate, when it has one
        self.grpc_port = free_port()
        self.rest_port = free_port() if rest else 0
        self.log_path = tempfile.mkstemp(prefix='model_server_', suffix='.log')[1]
        self._flags = [f'--port={self.grpc_port}', f'--rest_api_port={self.rest_port}', *flags]
        self._startup_seconds = startup_seconds
        self.process: Optional[subprocess.Popen] = None

    @property
    def target(self) -> str:
        return f'127.0.0.1:{self.grpc_port}'

    @property
    def rest_url(self) -> str:
        return f'http://127.0.0.1:{self.rest_port}'

    def channel(self, options: Sequence[Tuple[str, Any]] = ()) -> grpc.Channel:
        if self.ca:
            return grpc.secure_channel(self.target, grpc.ssl_channel_credentials(self.ca),
                                       options=options)
        return grpc.insecure_channel(self.target, options=options)

    def log(self) -> str:
        with open(self.log_path, errors='replace') as f:
            return f.read()

    def __enter__(self):
        with open(self.log_path, 'w') as log:
            process = self.process = subprocess.Popen(
                [sys.executable, '-m', 'serving.server', *self._flags],
                stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        deadline = time.time() + self._startup_seconds
        with self.channel() as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while time.time() < deadline:
                if process.poll() is not None:
                    raise RuntimeError(f'model server exited {process.returncode}:\n'
                                       + self.log()[-3000:])
                if self._serving(health):
                    return self
                time.sleep(0.2)
        self.__exit__()
        raise TimeoutError('model server did not start:\n' + self.log()[-3000:])

    @staticmethod
    def _serving(health: health_pb2_grpc.HealthStub) -> bool:
        """Whether the server says SERVING; not yet listening counts as not."""
        try:
            status = health.Check(health_pb2.HealthCheckRequest(), timeout=1).status
        except grpc.RpcError:
            return False
        return status == health_pb2.HealthCheckResponse.SERVING

    def __exit__(self, *exc):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def rest(self, method: str, path: str, body=None, raw: Optional[bytes] = None):
        """(HTTP status, parsed JSON or text) of one REST call."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.rest_url + path, data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text
