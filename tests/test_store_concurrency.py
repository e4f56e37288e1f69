"""Two people at once on one ML Metadata store: runs from two homes started
together both complete and are recorded whole, one after the other (the
second waits for the store's lock, naming who holds it), with one push for
the one blessed model; a holder killed with -9 lets go of the lock with its
connection, and its run shows as abandoned."""

import json
import os
import signal
import socket

import pytest

from common.tf_serving import newest_version
from pipeline import postgres
from tests.support import (
    TRAINING_COMPONENTS,
    as_user,
    finished,
    new_database,
    read_until,
    runner,
    started_run,
    store_runs,
    versions,
)

pytestmark = pytest.mark.e2e

WAITING = 'Waiting for ML Metadata store'


def _started(home, data_root, store, root, user, *extra):
    return started_run(home, data_root, '--metadata', store.url, '--pipeline-root', root, *extra,
                       env=as_user(user))


def _executions_per_run(store):
    """For each pipeline_run context: how many executions, and how many distinct nodes."""
    with postgres.session(store) as connection:
        return connection.run(
            "SELECT c.name, COUNT(*), COUNT(DISTINCT n.context_id) FROM context c "
            "JOIN type t ON t.id = c.type_id AND t.name = 'pipeline_run' "
            "JOIN association a ON a.context_id = c.id "
            "JOIN association n ON n.execution_id = a.execution_id AND n.context_id IN "
            "  (SELECT x.id FROM context x JOIN type y ON y.id = x.type_id AND y.name = 'node') "
            "GROUP BY c.name")


def test_two_runs_started_together_run_one_after_the_other_and_push_once(
        postgres_server, pipeline_sample, tmp_path):
    store, root = new_database(postgres_server, 'together'), str(tmp_path / 'root')
    processes = {user: _started(str(tmp_path / user), pipeline_sample, store, root, user)
                 for user in ('alice', 'bob')}
    try:
        ended = {user: finished(process) for user, process in processes.items()}
    finally:
        for process in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    assert all(code == 0 for code, _, _ in ended.values()), ended
    [waited] = [user for user, (_, out, _) in ended.items() if WAITING in out]
    [held] = [user for user in ended if user != waited]
    said = [x for x in ended[waited][1].splitlines() if x.startswith(WAITING)]
    assert any(f'(runner local by {held} on {socket.gethostname()}, pid '
               f'{processes[held].pid}, since ' in line for line in said), said
    recorded = {r.user: r for r in store_runs(store)}
    assert set(recorded) == {'alice', 'bob'}
    first, second = recorded[held], recorded[waited]
    assert first.end <= second.start + 1          # one after the other (times in ms)
    assert first.state == second.state == 'complete'
    assert first.pushed and not first.already_pushed
    assert second.already_pushed and second.pushed_version == first.pushed_version
    assert versions(os.path.join(root, 'serving_model', 'chicago_taxi')) == \
        [first.pushed_version]
    counts = {run: (executions, nodes) for run, executions, nodes in _executions_per_run(store)}
    assert counts == {r.run_id: (len(TRAINING_COMPONENTS),) * 2 for r in recorded.values()}


def test_a_holder_killed_with_minus_9_lets_go_of_the_lock(postgres_server, pipeline_sample,
                                                          tmp_path):
    store, root = new_database(postgres_server, 'killed'), str(tmp_path / 'root')
    holder = _started(str(tmp_path / 'alice'), pipeline_sample, store, root, 'alice')
    waiter = None
    try:
        read_until(holder, '  Transform')
        waiter = _started(str(tmp_path / 'bob'), pipeline_sample, store, root, 'bob')
        line = read_until(waiter, WAITING).splitlines()[-1]
        assert f'by alice on {socket.gethostname()}, pid {holder.pid}' in line
        listed = runner('runs', '--json', '--home', str(tmp_path / 'carol'), '--metadata',
                        store.url)
        assert json.loads(listed.stdout)[0]['state'] == 'running at Transform'   # live
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
        code, out, err = finished(waiter)
    finally:
        for process in (holder, waiter):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    assert code == 0, out + err
    [killed, done] = sorted(store_runs(store), key=lambda r: r.start)
    assert f'Run {killed.run_id} was abandoned at Transform' in out
    assert killed.state == 'abandoned at Transform' and killed.user == 'alice'
    assert done.state == 'complete' and done.user == 'bob' and done.pushed
    assert newest_version(os.path.join(root, 'serving_model', 'chicago_taxi')) == \
        int(done.pushed_version)
