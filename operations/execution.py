"""Running a TFX pipeline on this machine: LocalDagRunner under a run id chosen
here, Beam's direct runner sized to the data, the component that failed and why.

Components report themselves through absl logging ("Component X is
running.", "A cached execution N is used.", "Component X is finished.");
ComponentWatch turns those into calls on a Progress, which the command line
prints as one line per component.
"""

import contextlib
import datetime
import errno
import logging
import os
import re
import signal
import sys
import time
from typing import Any, Iterator, List, Optional, Protocol, Tuple

from common import interruption
from common.causes import causes
from common.exit_status import ProblemFound, UsageError
from operations.run_history import Activity
from pipeline.store_url import Store
from serving.memory import return_free_memory

# Up to this much input, Beam's direct runner works in this one process: each
# extra worker process re-imports TensorFlow (seconds) and the data fits in
# memory many times over. Measured on the 2 MB taxi data: in_memory beats
# multi_threading (34 s against 38 s end to end).
IN_MEMORY_MAX_BYTES = 64 << 20
DIRECT_RUNNING_MODES = ('in_memory', 'multi_threading', 'multi_processing')


def direct_runner_args(data_root: str, mode: str = 'auto') -> Tuple[str, ...]:
    """Beam DirectRunner options: the given mode, or (auto) one suited to the size
    of the input data; one worker in process, one per core otherwise."""
    if mode == 'auto':
        size = sum(os.path.getsize(os.path.join(d, name))
                   for d, _, names in os.walk(data_root) for name in names)
        mode = 'in_memory' if size <= IN_MEMORY_MAX_BYTES else 'multi_processing'
    workers = 1 if mode == 'in_memory' else os.cpu_count()
    return (f'--direct_running_mode={mode}', f'--direct_num_workers={workers}')


def runner_chosen(beam_args: Tuple[str, ...]) -> bool:
    """Whether Beam options name a runner or a direct running mode (else the run
    sizes the direct runner to its data)."""
    return any(arg.startswith(('--runner=', '--direct_running_mode=')) for arg in beam_args)


def new_run_id() -> str:
    """A run id as LocalDagRunner makes them (the time it starts, ISO 8601)."""
    return datetime.datetime.now().isoformat()


class LockLost(BaseException):
    """The run's lock on a shared store went with its connection (the server
    restarted, the network broke): the run stops before its next component, so
    that one run at a time holds. A BaseException, as a stop is: it leaves through
    LocalDagRunner's logging call."""


class RunLock(Protocol):
    """The record of the run under way that the lock keeps (runner/home_lock.py in
    the home, runner/store_lock.py on a shared store), and what the previous holder
    left in it."""

    previous: Activity

    def check_held(self) -> None:
        """Before each component: LockLost when the lock is no longer held."""

    def working_on(self, run_id: str) -> None: ...

    def failed(self, run_id: str, cause: str) -> None: ...

    def failure_recorded(self, run_id: str) -> None: ...


class Progress(Protocol):
    """What a run tells the person waiting for it."""

    def run_started(self, pipeline: str, run_id: str, home: str) -> None: ...

    def note(self, line: str) -> None: ...

    def component_started(self, name: str) -> None: ...

    def component_finished(self, name: str, seconds: float, cached: bool) -> None: ...

    def component_failed(self, name: str) -> None: ...

    def component_stopped(self, name: str) -> None: ...


_RUNNING = 'Component %s is running.'
_FINISHED = 'Component %s is finished.'
_CACHED = 'A cached execution %d is used.'


class ComponentWatch(logging.Handler):
    """Follows LocalDagRunner's log lines: which component runs now, how long each
    took and whether from the cache; tells a Progress. Before a component starts,
    a stop asked for, or a lock lost (`lock`), ends the run."""

    def __init__(self, progress: Progress, lock: Optional[RunLock] = None):
        super().__init__(logging.INFO)
        self.progress = progress
        self.run_lock = lock      # (logging.Handler's own `lock` is a thread lock)
        self.last: Optional[str] = None       # the component that finished last
        self.starting: Optional[str] = None   # the component about to start
        self.current: Optional[str] = None
        self.timings: List[Tuple[str, float, bool]] = []
        self._started = 0.0
        self._cached = False

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == _RUNNING and isinstance(record.args, tuple) and record.args:
            # A stop asked for (and perhaps swallowed on the way): this component never
            # starts. The exception leaves through LocalDagRunner's logging call.
            self.starting = str(record.args[0])
            interruption.check()
            if self.run_lock is not None:
                self.run_lock.check_held()
            self.current, self._started, self._cached = self.starting, time.time(), False
            self.progress.component_started(self.current)
        elif record.msg == _CACHED:
            self._cached = True
        elif record.msg == _FINISHED and self.current:
            seconds = time.time() - self._started
            self.timings.append((self.current, seconds, self._cached))
            self.progress.component_finished(self.current, seconds, self._cached)
            self.last, self.current = self.current, None
            # What the component freed goes back to the system, not to the next one:
            # the Trainer's 1M examples at 100x otherwise stay through the Evaluator.
            return_free_memory()

    def failed(self) -> None:
        """The run failed: the component that was running did not finish."""
        if self.current:
            self.progress.component_failed(self.current)

    def stopped(self) -> None:
        """The run was stopped: the component that was running did not finish."""
        if self.current:
            self.progress.component_stopped(self.current)


@contextlib.contextmanager
def watching(progress: Progress, lock: Optional[RunLock] = None) -> Iterator[ComponentWatch]:
    """A ComponentWatch on the root logger while the block runs. What components
    print themselves (KerasTuner's trial summaries, say) goes where their logs go."""
    watch = ComponentWatch(progress, lock)
    root = logging.getLogger()
    root.addHandler(watch)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield watch
    finally:
        root.removeHandler(watch)


def batch_by_size() -> None:
    """Makes tfx-bsl's sources (Transform, StatisticsGen, Evaluator, BulkInferrer read
    through them) batch examples by their size in bytes rather than by how long
    batches took: TFT's analyzers then sum over the same batches on every run, and
    the same data gives the same transform graph to the last bit. This is tfx-bsl's
    own switch (an absl flag, for this process and its in-process Beam workers)."""
    from absl import flags
    from tfx_bsl.coders import batch_util  # noqa: F401  (defines the flag)
    flags.FLAGS(['runner', '--tfxio_use_byte_size_batching'], known_only=True)


def run_pipeline(tfx_pipeline: Any, run_id: str, deterministic: bool = True) -> None:
    """Runs a TFX pipeline with LocalDagRunner under run_id (with batches by size,
    if deterministic); raises on the first failing component."""
    # Imported here: TFX takes seconds to import, the CLI should not.
    from tfx.dsl.compiler import constants
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner
    from tfx.orchestration.portable import runtime_parameter_utils

    class NamedRunDagRunner(LocalDagRunner):
        """LocalDagRunner under a run id chosen here, so that this run's record is
        found by its id and never mistaken for another's."""

        def run_with_ir(self, pipeline: Any, run_options: Any = None) -> Any:
            runtime_parameter_utils.substitute_runtime_parameter(
                pipeline, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id})
            return super().run_with_ir(pipeline, run_options)

    if deterministic:
        batch_by_size()
    NamedRunDagRunner().run(tfx_pipeline)


# Causes a later error can hide: a full disk also fails ML Metadata's update of
# the failed execution, but the disk is what to fix.
_REAL_CAUSES = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS,
                errno.EFBIG, errno.EIO)


def real_cause(error: BaseException) -> BaseException:
    """The OSError (no space left, permission denied...) behind an error; else, when
    TFX failed to record a component's failure in ML Metadata (a full disk), the
    component's own failure; else the error."""
    from pipeline import mlmd
    chain = []
    for seen in causes(error):
        if isinstance(seen, OSError) and seen.errno in _REAL_CAUSES:
            return seen
        chain.append(seen)
    first_of_ours = [e for e in chain if not mlmd.is_store_error(e)]
    return first_of_ours[-1] if mlmd.is_store_error(error) and first_of_ours else error


def store_failure(store: Store, error: BaseException) -> Optional[str]:
    """When ML Metadata's server could not be reached during a run: the store's
    fault as it stands now, named (never the password), else None."""
    from pipeline import mlmd, postgres
    if not store.shared or not mlmd.is_connection_error(error):
        return None
    try:
        postgres.check(store)
    except postgres.StoreFault as fault:
        return f'{fault}; then the next run resumes from the cache'
    return (f'ML Metadata store {store} could not be reached for a while; the next run '
            'resumes from the cache')


def failure_message(component: str, error: BaseException, store: Optional[Store] = None) -> str:
    """`COMPONENT failed: Type: what`, on one line: anomalies summarised (the full
    list goes to the log with the error), the real cause of an OSError chain, a
    store whose server went away named."""
    from pipeline.validation_gate import DataAnomaliesError
    lost = store_failure(store, error) if store is not None else None
    if lost:
        return f'{component} failed: {lost}'
    cause = real_cause(error)
    text = (f'{cause.summary()} (every anomaly, with its description, in the log)'
            if isinstance(cause, DataAnomaliesError) else str(cause))
    return f'{component} failed: {type(cause).__name__}: {text}'


class ComponentFailed(ProblemFound):
    """A component of a run failed; `component` names it."""

    def __init__(self, component: str, message: str):
        super().__init__(message)
        self.component = component


RESUMES = 'the next run on this home resumes from the cache'


class RunStopped(interruption.Interrupted):
    """A signal stopped a run: where (at its component, between components, before
    the first) and what to do next."""

    def __init__(self, signum: int, where: str, next_step: str = RESUMES):
        super().__init__(signum)
        self.where, self.next_step = where, next_step

    def __str__(self) -> str:
        return (f'{super().__str__()} {self.where}; nothing was pushed after the stop, and '
                f'{self.next_step}')


def _record_end(store: Store, run_id: str, state: str, ended: Optional[str] = None,
                cause: Optional[str] = None, stop: bool = False) -> bool:
    """How the run ended, on its executions that TFX left RUNNING (and, for a stop, those
    it marked FAILED: mlmd.end_run); False (logged) when the store cannot take it now (a full disk,
    its server gone): the next run records it."""
    from pipeline import mlmd
    try:
        mlmd.end_run(store, run_id, state, ended, cause, stop)
    except ProblemFound:    # the store's own failure (StoreNotWritten, DamagedMetadataError)
        logging.exception('could not record in %s that run %s ended %s', store, run_id, state)
        return False
    return True


# Beam re-raises what a DoFn raised as a RuntimeError naming it: `RuntimeError:
# common.interruption.Interrupted: stopped by SIGINT [while running '...']`.
_STOP_NAMED = re.compile(r'Interrupted: stopped by (SIG[A-Z]+)')


def stop_signal(error: BaseException) -> Optional[int]:
    """The signal behind a failure, if the failure is the stop: the one the process
    recorded, else an Interrupted in the error's chain (causes and contexts), else one
    its message names (a library that wrapped the stop in an exception of its own)."""
    signum = interruption.requested()
    if signum is not None:
        return signum
    for seen in causes(error):
        if isinstance(seen, interruption.Interrupted):
            return seen.signum
        named = _STOP_NAMED.search(str(seen))
        if named and named.group(1) in signal.Signals.__members__:
            return signal.Signals[named.group(1)].value
    return None


def _recorded_state(store: Store, run_id: str) -> Optional[str]:
    """The run's state as ML Metadata records it (mlmd.RunRecord.state), if it has one."""
    from pipeline import mlmd
    try:
        return mlmd.find_run(mlmd.load_runs(mlmd.connect(store)), run_id).state
    except (LookupError, ProblemFound, UsageError):
        return None


_STOPPED_WHERE = re.compile(r'stopped ((?:at|after) \S+)')


def _stopped(watch: ComponentWatch, store: Store, run_id: str, signum: int,
             cause: BaseException) -> None:
    """The run was stopped by signum: the component under way is told STOPPED, the run's
    executions CANCELED (those TFX marked FAILED as the stop came through wrapped, too;
    at none under way, the last says how the run ended); RunStopped, saying where as
    the record says it. A stop that came after the last component finished changes
    nothing: the run completed (interruption.finish())."""
    from pipeline import mlmd
    interruption.acknowledge()
    if _recorded_state(store, run_id) in ('complete', 'cached'):
        interruption.finish()
        return
    watch.stopped()
    _record_end(store, run_id, 'CANCELED', stop=True,
                ended=mlmd.INTERRUPTED if signum == signal.SIGINT else mlmd.TERMINATED)
    raise RunStopped(signum, _where(watch, _recorded_state(store, run_id))) from cause


def _where(watch: ComponentWatch, recorded: Optional[str]) -> str:
    """Where the run stopped, as its record says: a component whose line is out may not
    have begun in ML Metadata yet (the record says the run stopped after the one
    before), nor the run itself (no record: before its first component). The watch's
    word where the record could not be written."""
    if recorded is None:
        return 'before its first component'
    found = _STOPPED_WHERE.match(recorded)
    if found:
        return found.group(1)
    if watch.current:
        return f'at {watch.current}'
    return f'after {watch.timings[-1][0]}' if watch.timings else 'before its first component'


def close_unfinished_runs(store: Store, lock: RunLock) -> List[str]:
    """Before a run (the caller holds the lock, so no other run is under way on the
    store): runs of any pipeline whose executions are still RUNNING are recorded
    as ended, once: FAILED with the cause the lock kept (the store could not take
    it then), else abandoned (their process is gone). Lines for people."""
    from pipeline import mlmd
    if mlmd.store_condition(store)[0] != mlmd.READY:
        return []
    previous, lines = lock.previous, []
    for record in mlmd.load_runs(mlmd.connect(store)):
        if not record.state.startswith('running at '):
            continue
        where = record.state[len('running at '):]
        if record.run_id == previous.failed_run:
            mlmd.end_run(store, record.run_id, 'FAILED', cause=previous.failure)
            lines.append(f'Run {record.run_id} failed at {where}: {previous.failure}')
        else:
            mlmd.end_run(store, record.run_id, 'CANCELED', ended=mlmd.ABANDONED)
            lines.append(f'Run {record.run_id} was abandoned at {where} (its process is '
                         'gone); this run starts afresh from the cache')
    if previous.failed_run:     # in ML Metadata now, by TFX or above
        lock.failure_recorded(previous.failed_run)
    return lines


def _failed(store: Store, run_id: str, lock: RunLock,
            failure: 'ComponentFailed') -> 'ComponentFailed':
    """The run failed: the lock keeps the failure until ML Metadata holds it."""
    lock.failed(run_id, str(failure))
    if _record_end(store, run_id, 'FAILED', cause=str(failure)):
        lock.failure_recorded(run_id)
    return failure


@contextlib.contextmanager
def signed(store: Store, run_id: str) -> Iterator[None]:
    """After the run, however it ended: who started it and where, on its record
    (logged when the store cannot take it: a full disk, its server gone)."""
    from pipeline import manifest, mlmd
    try:
        yield
    finally:
        try:
            mlmd.record_origin(store, run_id, manifest.origin())
        except ProblemFound:
            logging.exception('could not record in %s who started run %s', store, run_id)


def run_tracked(tfx_pipeline: Any, run_id: str, store: Store, lock: RunLock,
                progress: Progress, deterministic: bool = True) -> None:
    """run_pipeline, telling progress of each component and the lock which run is
    under way; ComponentFailed naming the component that failed and why (or that
    did not start: the lock on a shared store was lost); RunStopped when a signal
    stopped it. Either way, how it ended is recorded on the run's executions (and
    a failure in the lock, should the store be full). Runs that did not end
    before are recorded first (close_unfinished_runs). When it returns the run is
    complete, and a stop from then on changes nothing (interruption.finish(): what
    the command says agrees with the record)."""
    for line in close_unfinished_runs(store, lock):
        progress.note(line)
    lock.working_on(run_id)
    with watching(progress, lock) as watch, signed(store, run_id):
        try:
            run_pipeline(tfx_pipeline, run_id, deterministic)
        except interruption.Interrupted as stop:
            _stopped(watch, store, run_id, stop.signum, stop)
            return
        except LockLost as lost:
            after = f' after {watch.last}' if watch.last else ''
            raise _failed(store, run_id, lock, ComponentFailed(
                watch.starting or 'set-up', f'the run stopped{after}: {lost}')) from lost
        except Exception as error:  # reported naming the component and the cause
            signum = stop_signal(error)
            if signum is not None:     # the stop, as a library wrapped it (Beam, pybind11)
                _stopped(watch, store, run_id, signum, error)
                return
            watch.failed()
            component = watch.current or 'set-up'
            raise _failed(store, run_id, lock, ComponentFailed(
                component, failure_message(component, error, store))) from error
    # Complete: a stop asked for and not acted on (swallowed, or as the run ended) came
    # too late to stop anything; one from now on is noted (the run stands as recorded).
    interruption.finish()
