"""Ctrl-C (SIGINT to the run's process group, as a terminal sends it) and SIGTERM
(to the process, as a supervisor sends it) stop a run at any moment, Beam's
execution included: no component starts after them, nothing is pushed, one line
says where the run stopped, the exit status is 128 + the signal, and the next
run resumes from the cache."""

import os
import select
import signal
import subprocess
import sys
import time

import pytest

from serving.local_server import REPO
from tests.support import PIPELINE_TRAIN_STEPS, runs, serving_model_dir, versions

pytestmark = pytest.mark.e2e

COMPONENT_ORDER = ['CsvExampleGen', 'StatisticsGen', 'ExampleValidator', 'ExampleValidationGate',
                   'Transform', 'Trainer', 'Evaluator', 'ServingCanary', 'Pusher']


def _local(home, data_root, *extra):
    return [sys.executable, '-m', 'runner', 'local', '--home', home, '--data-root', data_root,
            '--train-steps', str(PIPELINE_TRAIN_STEPS), '--min-auc', '0.5', *extra]


def _read_until(process, text, seconds=600):
    """What the process printed, up to and including `text` (its component line
    begins when the component starts)."""
    out, deadline = b'', time.time() + seconds
    while text.encode() not in out:
        ready, _, _ = select.select([process.stdout], [], [], max(deadline - time.time(), 0))
        chunk = os.read(process.stdout.fileno(), 4096) if ready else b''
        if not chunk:
            raise AssertionError(f'{text!r} never came: {out.decode()}')
        out += chunk
    return out.decode()


def _stopped_run(home, data_root, component, signum, to_group, *extra):
    """Starts a run, signals it 1 s into `component`; (exit status, stdout, stderr,
    the component that was running when the signal went)."""
    process = subprocess.Popen(_local(home, data_root, *extra), cwd=REPO, start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out = _read_until(process, f'  {component}')
        time.sleep(1)
        ready, _, _ = select.select([process.stdout], [], [], 0)
        out += os.read(process.stdout.fileno(), 65536).decode() if ready else ''
        running = out.rstrip('\n').splitlines()[-1].split()[1]   # the unfinished line
        (os.killpg if to_group else os.kill)(process.pid, signum)
        rest, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode, out + rest.decode(), err.decode(), running


@pytest.mark.parametrize('signum, component, to_group, extra', [
    (signal.SIGINT, 'Transform', True, ()),                 # in Beam's execution
    (signal.SIGTERM, 'Trainer', False, ()),                 # in TensorFlow's training
    (signal.SIGINT, 'StatisticsGen', True,                  # Beam's worker processes too
     ('--direct-running-mode', 'multi_processing')),
], ids=['ctrl-c-in-transform', 'sigterm-in-trainer', 'ctrl-c-in-beam-workers'])
def test_a_signal_stops_the_run_where_it_is(signum, component, to_group, extra, pipeline_home,
                                           tmp_path):
    home = str(tmp_path / 'home')
    status, out, err, running = _stopped_run(home, pipeline_home[1], component, signum,
                                             to_group, *extra)
    name = signal.Signals(signum).name
    assert status == 128 + signum, out + err
    assert err == (f'error: stopped by {name} at {running}; nothing was pushed after the stop, '
                   'and the next run on this home resumes from the cache\n')
    assert out.rstrip('\n').splitlines()[-1].endswith('STOPPED')
    later = COMPONENT_ORDER[COMPONENT_ORDER.index(running) + 1:]
    assert not [c for c in later if f'  {c}' in out]       # nothing started after the stop
    assert versions(serving_model_dir(home)) == []
    [record] = runs(home)
    ended = 'interrupted' if signum == signal.SIGINT else 'terminated'
    assert record.state == f'stopped at {running} ({ended})'


def test_the_run_after_a_stop_resumes_from_the_cache_and_pushes_once(pipeline_home, tmp_path):
    home = str(tmp_path / 'home')
    status, _, _, running = _stopped_run(home, pipeline_home[1], 'Trainer', signal.SIGINT, True)
    assert status == 130 and running == 'Trainer'
    again = subprocess.run(_local(home, pipeline_home[1]), cwd=REPO, capture_output=True,
                           text=True, timeout=900)
    assert again.returncode == 0, again.stdout + again.stderr
    cached = [line.split()[1] for line in again.stdout.splitlines() if line.endswith('(cached)')]
    assert {'CsvExampleGen', 'StatisticsGen', 'Transform'} <= set(cached)
    assert len(versions(serving_model_dir(home))) == 1
    newest, stopped = runs(home)
    assert newest.state == 'complete' and stopped.state == 'stopped at Trainer (interrupted)'
