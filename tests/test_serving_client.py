"""serving/client.py against a TLS model server with batching on; its CLI; its
deadline and retries."""

import datetime
import ipaddress
import shutil
import subprocess
import sys
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from pipeline.config import DEFAULT_SCHEMA_FILE
from serving.client import ServingClient, read_csv, schema_types
from serving.local_server import REPO, ModelServer, free_port
from serving.protos import SSLConfig
from tests.support import DATA_CSV, read_rows, to_example, to_instance

pytestmark = pytest.mark.e2e

MODEL = 'chicago_taxi'


def _self_signed_certificate():
    """(key PEM, certificate PEM) for 127.0.0.1, made with `cryptography`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'localhost')])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName(
                       [x509.DNSName('localhost'),
                        x509.IPAddress(ipaddress.ip_address('127.0.0.1'))]),
                       critical=False)
                   .sign(key, hashes.SHA256()))
    return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()),
            certificate.public_bytes(serialization.Encoding.PEM))


@pytest.fixture(scope='module')
def tls_server(exported_model, tmp_path_factory):
    directory = tmp_path_factory.mktemp('tls')
    shutil.copytree(exported_model[0], directory / 'models' / '1')
    key, certificate = _self_signed_certificate()
    (directory / 'ca.pem').write_bytes(certificate)
    (directory / 'ssl.config').write_text(text_format.MessageToString(
        SSLConfig(server_key=key.decode(), server_cert=certificate.decode())))
    (directory / 'batching.config').write_text(
        'max_batch_size { value: 32 }\nbatch_timeout_micros { value: 1000 }\n'
        'num_batch_threads { value: 2 }\nmax_enqueued_batches { value: 100 }\n')
    with ModelServer(f'--model_name={MODEL}', f'--model_base_path={directory / "models"}',
                     f'--ssl_config_file={directory / "ssl.config"}', '--enable_batching',
                     f'--batching_parameters_file={directory / "batching.config"}',
                     rest=False, ca=certificate) as server:
        server.ca_path = str(directory / 'ca.pem')
        yield server


@pytest.fixture(scope='module')
def rows():
    types = schema_types(DEFAULT_SCHEMA_FILE)
    return [row for row in read_csv(DATA_CSV, types)[:50]]


@pytest.fixture(scope='module')
def expected(exported_model, schema):
    serve = tf.saved_model.load(exported_model[0]).signatures['serving_default']
    serialized = [to_example(to_instance(r, schema)) for r in read_rows(50)]
    return serve(examples=tf.constant(serialized))['probabilities'].numpy()


def test_client_predicts_over_tls_with_batching(tls_server, rows, expected):
    client = ServingClient(tls_server.target, root_certificates=tls_server.ca)
    results = [None] * 8

    def call(i):  # concurrent callers, so the server's batcher has something to merge
        results[i] = client.predict(MODEL, rows[i * 5:(i + 1) * 5], batch_size=2)
    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    np.testing.assert_allclose(np.concatenate(results), expected[:40], atol=1e-6)
    status = client.status(MODEL).model_version_status[0]
    assert status.version == 1
    client.close()


def test_plaintext_client_is_refused_by_the_tls_server(tls_server, rows):
    client = ServingClient(tls_server.target, retries=0, timeout_seconds=5)
    with pytest.raises(grpc.RpcError) as raised:
        client.predict(MODEL, rows[:1])
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def test_cli_prints_one_prediction_per_csv_row(tls_server, expected, tmp_path):
    lines = open(DATA_CSV).read().splitlines()[:6]
    (tmp_path / 'rows.csv').write_text('\n'.join(lines) + '\n')
    result = subprocess.run(
        [sys.executable, '-m', 'serving.client', '--server', tls_server.target, '--model', MODEL,
         '--csv', str(tmp_path / 'rows.csv'), '--tls_ca', tls_server.ca_path],
        capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    printed = [float(line.split('\t')[1]) for line in result.stdout.splitlines()]
    np.testing.assert_allclose(printed, expected[:5, 0], atol=1e-5)


def test_unavailable_is_retried_with_backoff_then_raised(rows):
    client = ServingClient(f'127.0.0.1:{free_port()}', retries=2, timeout_seconds=5)
    started = time.time()
    with pytest.raises(grpc.RpcError) as raised:
        client.predict(MODEL, rows[:1])
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert time.time() - started >= 0.3   # slept 0.1 s and 0.2 s between the three attempts


def test_deadline_is_enforced(tls_server, rows):
    client = ServingClient(tls_server.target, root_certificates=tls_server.ca,
                           timeout_seconds=1e-4, retries=3)
    with pytest.raises(grpc.RpcError) as raised:
        client.predict(MODEL, rows[:1])
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
