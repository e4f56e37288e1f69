"""Ctrl-C (SIGINT to the run's process group, as a terminal sends it) and SIGTERM
(to the process, as a supervisor sends it) stop a run at any moment, Beam's
execution included: no component starts after them, nothing is pushed, one line
says where the run stopped, the exit status is 128 + the signal, and the next
run resumes from the cache."""

import os
import re
import signal
import time

import pytest

from tests.support import (
    read_until,
    run_pipeline,
    runs,
    serving_model_dir,
    started_run,
    versions,
    wait_for,
)

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


# The training pipeline's components in the order a run starts them.
IN_ORDER = ['CsvExampleGen', 'ImportSchemaGen', 'latest_blessed_model_resolver',
            'latest_hyperparameters_resolver', 'RunManifest', 'StatisticsGen', 'ExampleValidator',
            'ExampleValidationGate', 'Transform', 'Trainer', 'Evaluator', 'ServingCanary',
            'Pusher']
STOPPED = re.compile(r'error: stopped by SIGINT (at \w+|after \w+|before its first component); '
                     r'nothing was pushed after the stop, and the next run on this home '
                     r'resumes from the cache\n')


# Seconds into Beam's execution of a component (its log's `Creating state cache`) at
# which, on 2 cores, a stop lands inside a DoFn, which Beam re-raises wrapped.
INSIDE_BEAM = {'StatisticsGen': 0.3, 'Transform': 1.8, 'Evaluator': 1.0}


def _stopped_as_it_starts(home, data_root, component, delay):
    """Starts a run and sends Ctrl-C's SIGINT to its process group `delay` seconds after
    its line says `component` started, or, for the Beam components of INSIDE_BEAM, that
    long into Beam's execution of it; (exit status, stdout, stderr)."""
    process = started_run(home, data_root)
    try:
        out = read_until(process, f'  {component}')
        if component in INSIDE_BEAM:
            log = out.split('Full logs: ', 1)[1].split('\n', 1)[0]
            wait_for(lambda: 'Creating state cache' in open(log, errors='replace').read().split(
                f'Component {component} is running.', 1)[-1], 120)
            delay = INSIDE_BEAM[component]
        time.sleep(delay)
        os.killpg(process.pid, signal.SIGINT)
        rest, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode, out + rest.decode(), err.decode()


def test_a_stop_at_each_component_is_recorded_as_a_stop(pipeline_home, tmp_path):
    """Ctrl-C in each component, each run resuming from the cache of the one before: the
    record says what the exit status and the error line say, and nothing is pushed
    after the stop. The first stop comes the moment the first line is out (before ML
    Metadata holds the run), those of Beam's components inside Beam's execution (where
    Beam re-raised the stop as a RuntimeError, which TFX recorded as the component's
    failure: `failed at StatisticsGen`, `failed at Transform`, `failed at Evaluator`
    after an exit 130, in three tries of five before), the others 0.3 s into their
    component; one that comes as the last component ends leaves the run complete, and
    says so."""
    home = str(tmp_path / 'home')
    target, stopped = 0, []
    while target < len(IN_ORDER):
        status, out, err = _stopped_as_it_starts(home, pipeline_home[1], IN_ORDER[target],
                                                 0.3 if target else 0)
        run_id = out.split(', run ', 1)[1].split(',', 1)[0]
        record = next((r for r in _runs(home) if r.run_id == run_id), None)
        if status == 0:       # the stop came as the run ended (the note), or after it
            assert record.state == 'complete', (record.state, err)
            assert err in ('', 'note: SIGINT came as the run finished: it completed, and '
                               'stands as recorded\n'), err
            break
        assert status == 130, out + err
        where = STOPPED.fullmatch(err)
        assert where, err
        if where[1] == 'before its first component':      # before ML Metadata held it
            assert record is None, record.state
        else:
            assert record.state == f'stopped {where[1]} (interrupted)', (record.state, err)
            component = where[1].split()[1]
            if component != 'Pusher':      # one that came during the push: after the version
                assert versions(serving_model_dir(home)) == [], (where[1], out)
            stopped.append(component)
            target = max(target, IN_ORDER.index(component))
        target += 1          # the next run resumes from the cache, stopped at the next one
    assert {'StatisticsGen', 'Transform', 'Trainer', 'Evaluator'} <= set(stopped), stopped


def _runs(home):
    """The home's runs; none before ML Metadata holds one."""
    return runs(home) if os.path.exists(os.path.join(home, 'metadata.db')) else []
