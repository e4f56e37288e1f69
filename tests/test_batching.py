"""Dynamic batching on the real taxi servable, in process: concurrent requests
merge into batches, each gets its own rows back, and a bad one fails alone."""

import threading

import numpy as np
import pytest

from serving.batching import Batcher, BatchingOptions
from serving.errors import ServingError
from serving.metrics import BATCH_SIZE, Metrics
from serving.protos import BatchingParameters
from serving.servable import Servable
from tests.support import to_example


@pytest.fixture(scope='module')
def servable(exported_model):
    return Servable('chicago_taxi', 1, exported_model[0])


def _options(**values):
    params = BatchingParameters()
    for name, value in values.items():
        if name == 'allowed_batch_sizes':
            params.allowed_batch_sizes.extend(value)
        else:
            getattr(params, name).value = value
    return BatchingOptions(params)


def _concurrently(batcher, servable, requests):
    """Runs each request (an array of serialized examples) in its own thread at once."""
    results, barrier = [None] * len(requests), threading.Barrier(len(requests))

    def call(i):
        barrier.wait()
        try:
            results[i] = batcher.run(servable, 'serving_default', {'examples': requests[i]},
                                     ['probabilities'])['probabilities']
        except ServingError as error:
            results[i] = error
    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _batches(metrics):
    """(number of batches run, rows in them) from the batch-size histogram."""
    lines = metrics.prometheus_text().splitlines()
    count = next(float(line.split()[-1]) for line in lines
                 if line.startswith(BATCH_SIZE + '_count'))
    rows = next(float(line.split()[-1]) for line in lines if line.startswith(BATCH_SIZE + '_sum'))
    return count, rows


def _requests(raw_instances, sizes):
    rows, start = [], 0
    for size in sizes:
        rows.append(np.array([to_example(r) for r in raw_instances[start:start + size]],
                             dtype=object))
        start += size
    return rows


def test_concurrent_requests_share_batches_and_keep_their_rows(servable, raw_instances):
    metrics = Metrics()
    batcher = Batcher(_options(max_batch_size=64, batch_timeout_micros=300_000,
                               num_batch_threads=1), metrics)
    requests = _requests(raw_instances, [1, 2, 3] * 4)
    results = _concurrently(batcher, servable, requests)
    for request, result in zip(requests, results, strict=True):
        expected = servable.run('serving_default', {'examples': request},
                                ['probabilities'])['probabilities']
        np.testing.assert_allclose(result, expected, atol=1e-6)
    batches, rows = _batches(metrics)
    assert rows == 24 and batches < len(requests)


def test_a_bad_request_fails_alone(servable, raw_instances):
    batcher = Batcher(_options(max_batch_size=64, batch_timeout_micros=300_000), Metrics())
    requests = _requests(raw_instances, [1] * 6)
    requests[3] = np.array([b'not an example'], dtype=object)
    results = _concurrently(batcher, servable, requests)
    assert isinstance(results[3], ServingError) and 'Could not parse' in results[3].message
    assert all(isinstance(r, np.ndarray) and r.shape == (1, 1)
               for i, r in enumerate(results) if i != 3)


def test_batches_are_padded_to_an_allowed_size(servable, raw_instances):
    batcher = Batcher(_options(max_batch_size=8, batch_timeout_micros=300_000,
                               allowed_batch_sizes=[4, 8]), Metrics())
    requests = _requests(raw_instances, [1, 2])
    results = _concurrently(batcher, servable, requests)
    assert [r.shape for r in results] == [(1, 1), (2, 1)]
    with pytest.raises(ValueError, match='must equal max_batch_size'):
        _options(max_batch_size=8, allowed_batch_sizes=[4])


def test_requests_larger_than_a_batch_run_directly(servable, raw_instances):
    batcher = Batcher(_options(max_batch_size=2), Metrics())
    [big] = _requests(raw_instances, [5])
    result = batcher.run(servable, 'serving_default', {'examples': big}, ['probabilities'])
    assert result['probabilities'].shape == (5, 1)
