"""Ctrl-C (SIGINT to the run's process group, as a terminal sends it) and SIGTERM
(to the process, as a supervisor sends it) stop a run at any moment, Beam's
execution included: no component starts after them, nothing is pushed, one line
says where the run stopped, the exit status is 128 + the signal, and the next
run resumes from the cache."""

import os
import signal
import time

import pytest

from tests.support import read_until, run_pipeline, runs, serving_model_dir, started_run, versions

pytestmark = pytest.mark.e2e


def _stopped_run(home, data_root, component, signum, to_group, *extra):
    """Starts a run, signals it 1 s into `component`; (exit status, stdout, stderr, the
    component whose line says STOPPED, if one does)."""
    process = started_run(home, data_root, *extra)
    try:
        out = read_until(process, f'  {component}')
        time.sleep(1)
        (os.killpg if to_group else os.kill)(process.pid, signum)
        rest, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    out += rest.decode()
    stopped = [line.split()[1] for line in out.splitlines() if line.endswith('STOPPED')]
    return process.returncode, out, err.decode(), stopped[0] if stopped else None


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
    # The stopped component's line is the last: nothing started after the stop.
    assert running is not None and out.rstrip('\n').splitlines()[-1].endswith('STOPPED'), out
    assert err == (f'error: stopped by {name} at {running}; nothing was pushed after the stop, '
                   'and the next run on this home resumes from the cache\n')
    assert versions(serving_model_dir(home)) == []
    [record] = runs(home)
    ended = 'interrupted' if signum == signal.SIGINT else 'terminated'
    assert record.state == f'stopped at {running} ({ended})'


def test_the_run_after_a_stop_resumes_from_the_cache_and_pushes_once(pipeline_home, tmp_path):
    home = str(tmp_path / 'home')
    status, _, _, running = _stopped_run(home, pipeline_home[1], 'Trainer', signal.SIGINT, True)
    assert status == 130 and running is not None
    again = run_pipeline(home, pipeline_home[1])
    assert again.returncode == 0, again.stdout + again.stderr
    cached = [line.split()[1] for line in again.stdout.splitlines() if line.endswith('(cached)')]
    assert {'CsvExampleGen', 'StatisticsGen', 'Transform'} <= set(cached)
    assert len(versions(serving_model_dir(home))) == 1
    newest, stopped = runs(home)
    assert newest.state == 'complete' and stopped.state == f'stopped at {running} (interrupted)'
