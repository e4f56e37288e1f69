"""ML Metadata, read for the rest of the project: typed run records, named keys.

This is the one module that talks to the ML Metadata store. A pipeline run is
a `pipeline_run` context in MLMD; its executions (one per component, each also
in a `node` context named `<pipeline>.<node id>`) link through events to the
artifacts they produced or took from the cache. `load_runs` reads all of it in
one pass and gives a RunRecord per run: its components and their states, and
the artifacts of each stage (data, statistics, schema, transform graph, model,
evaluation, blessings, push).

The store is a SQLite file in the home, or a PostgreSQL database a team shares
(pipeline/store_url.py; connection_config gives ML Metadata's config for either,
and mends ML Metadata's client where it fails on PostgreSQL). It imports
ml_metadata only, never TFX or TensorFlow, so listing runs is fast. Node ids
are pipeline/component_ids.py's, the names the DAGs give their nodes.

It writes in two cases only, both about how runs ended, when no run is under
way: the executions of a run stopped by a signal, or whose process is gone,
become CANCELED with the reason (ENDED); those of a run that failed without
TFX recording it (a full disk) become FAILED with the cause; and who started
a run, and where, goes on its context. It tells a store apart from one a
failed first run left empty, which a run may recreate, and from a damaged one,
which it names; and it copies a home's SQLite store into an empty PostgreSQL
one (copy_store).
"""

import contextlib
import copy
import dataclasses
import json
import os
import re
import sqlite3
import urllib.parse
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ml_metadata import errors, metadata_store
from ml_metadata.proto import metadata_store_pb2

from common.causes import causes
from common.exit_status import ProblemFound, UsageError
from pipeline import component_ids as ids
from pipeline import postgres
from pipeline.store_url import Store

# Custom property keys. TFX's own, as its components write them:
BLESSED = 'blessed'                        # ModelBlessing, InfraBlessing: 1 or 0
CURRENT_MODEL_ID = 'current_model_id'      # ModelBlessing: the Model it judged
PUSHED = 'pushed'                          # PushedModel: 1 when copied to serving
PUSHED_VERSION = 'pushed_version'          # PushedModel: the version directory's name
PUSHED_DESTINATION = 'pushed_destination'  # PushedModel: where the version went
SPAN = 'span'                              # Examples: ExampleGen's span
VERSION = 'version'                        # Examples: ExampleGen's version, if any
INPUT_FINGERPRINT = 'input_fingerprint'    # Examples: ExampleGen's files fingerprint
# This project's:
ALREADY_PUSHED = 'already_pushed'          # PushedModel: the newest version already held it
ROLLED_BACK_TO = 'rolled_back_to'          # PushedModel: the earlier version it put back
INFRA_REASON = 'reason'                    # InfraBlessing: why the canary failed
MODEL_FINGERPRINT = 'fingerprint'          # Model: sha256 over the SavedModel's files
TRAINED_WITH = 'hparams'                   # Model: the hyperparameters it was trained with (JSON)
OVERALL_METRICS = 'overall_metrics'        # ModelEvaluation: metrics of the overall slice (JSON)
ENDED = 'ended'                            # Execution: how a run that did not finish ended
CAUSE = 'cause'                            # Execution: why it failed, when TFX could not say
# RunManifest (pipeline/manifest.py): what the run was made from.
COMMIT, DIRTY, CODE_CHANGES, IMAGE = 'commit', 'dirty', 'code_changes', 'image'
LOCK_SHA256, PACKAGE_VERSIONS, CONFIG, SETUP = 'lock_sha256', 'packages', 'config', 'setup'
SCHEMA_SHA256, DATA_FILES, DATA_FINGERPRINT = 'schema_sha256', 'data_files', 'data_fingerprint'
RUN_USER, RUN_HOST = 'user', 'host'        # who started the run, on which machine
UNKNOWN = 'unknown'

RUN_CONTEXT = 'pipeline_run'
NODE_CONTEXT = 'node'

# Where each stage's artifact comes from in the training pipeline: (node id, output key).
STAGE_OUTPUTS: Dict[str, Tuple[Tuple[str, str], ...]] = {
    'examples': ((ids.EXAMPLE_GEN, 'examples'),),
    'manifest': ((ids.RUN_MANIFEST, 'manifest'),),
    'statistics': ((ids.STATISTICS_GEN, 'statistics'),),
    'schema': ((ids.SCHEMA_GEN, 'schema'),),
    'anomalies': ((ids.EXAMPLE_VALIDATOR, 'anomalies'),),
    'transform_graph': ((ids.TRANSFORM, 'transform_graph'),),
    'model': ((ids.TRAINER, 'model'),),
    'model_run': ((ids.TRAINER, 'model_run'),),
    'best_hyperparameters': ((ids.TUNER, 'best_hyperparameters'),),
    'evaluation': ((ids.EVALUATOR, 'evaluation'),),
    'blessing': ((ids.EVALUATOR, 'blessing'),),
    'infra_blessing': ((ids.SERVING_CANARY, 'infra_blessing'), (ids.INFRA_VALIDATOR, 'blessing')),
    'pushed_model': ((ids.PUSHER, 'pushed_model'),),
}

_STATES = metadata_store_pb2.Execution.State


# How a run that did not finish ended (ENDED, on its executions left CANCELED).
INTERRUPTED, TERMINATED, ABANDONED = 'interrupted', 'terminated', 'abandoned'


class NoMetadataError(UsageError):
    """The home has no ML Metadata store with runs (no run yet, or a wrong --home)."""


class DamagedMetadataError(ProblemFound):
    """The store exists but cannot be read as ML Metadata."""


class StoreNotWritten(ProblemFound):
    """The store could not take a write (a full disk, a read-only file)."""


class StoreUnavailable(ProblemFound):
    """The store cannot be opened now, though it is not damaged (locked, or a hot
    journal on a home that cannot be written)."""


@dataclasses.dataclass(frozen=True)
class Artifact:
    id: int
    type: str
    uri: str
    properties: Mapping[str, Any]     # its properties and custom properties, as Python values
    created: float                    # seconds since the epoch

    def get(self, key: str, default=None):
        return self.properties.get(key, default)


@dataclasses.dataclass(frozen=True)
class ComponentRun:
    node: str
    execution_id: int
    state: str                        # COMPLETE, CACHED, FAILED, RUNNING, NEW, CANCELED
    start: float
    end: float
    outputs: Mapping[str, Tuple[Artifact, ...]]
    inputs: Mapping[str, Tuple[Artifact, ...]] = dataclasses.field(default_factory=dict)
    ended: Optional[str] = None       # INTERRUPTED, TERMINATED or ABANDONED, when CANCELED so
    cause: Optional[str] = None       # why it FAILED, where TFX could not record it

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One pipeline run as ML Metadata holds it."""

    run_id: str
    pipeline: str
    start: float
    end: float
    components: Mapping[str, ComponentRun]   # by node id, in the order they ran
    examples: Optional[Artifact] = None
    manifest: Optional[Artifact] = None
    statistics: Optional[Artifact] = None
    schema: Optional[Artifact] = None
    anomalies: Optional[Artifact] = None
    transform_graph: Optional[Artifact] = None
    model: Optional[Artifact] = None
    model_run: Optional[Artifact] = None
    best_hyperparameters: Optional[Artifact] = None
    evaluation: Optional[Artifact] = None
    blessing: Optional[Artifact] = None
    infra_blessing: Optional[Artifact] = None
    pushed_model: Optional[Artifact] = None
    # Who started the run and where, as recorded on its pipeline_run context.
    origin: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def output(self, node: str, key: str) -> Optional[Artifact]:
        """The (first) artifact a node output under key in this run."""
        component = self.components.get(node)
        artifacts = component.outputs.get(key, ()) if component else ()
        return artifacts[0] if artifacts else None

    def input(self, node: str, key: str) -> Optional[Artifact]:
        """The (first) artifact a node took as input under key in this run."""
        component = self.components.get(node)
        artifacts = component.inputs.get(key, ()) if component else ()
        return artifacts[0] if artifacts else None

    @property
    def state(self) -> str:
        """complete, cached, failed at X, stopped at X (interrupted or terminated),
        abandoned at X, running at X, or stopped after X."""
        for component in self.components.values():
            if component.state == 'CANCELED' and component.ended == ABANDONED:
                return f'abandoned at {component.node}'
            if component.state == 'CANCELED' and component.ended:
                return f'stopped at {component.node} ({component.ended})'
            if component.state in ('FAILED', 'CANCELED'):
                return f'failed at {component.node}'
        for component in self.components.values():
            if component.state in ('RUNNING', 'NEW'):
                return f'running at {component.node}'
        if not any(node in self.components for node in ids.FINAL_NODES):
            last = list(self.components)[-1] if self.components else 'start'
            ended = self.components[last].ended if self.components else None
            return f'stopped after {last}' + (f' ({ended})' if ended else '')
        ran = [c for c in self.components.values() if c.node not in ids.ALWAYS_RUN]
        return 'cached' if all(c.state == 'CACHED' for c in ran) else 'complete'

    @property
    def failed_component(self) -> Optional[str]:
        return next((c.node for c in self.components.values() if c.state == 'FAILED'), None)

    @property
    def failure_cause(self) -> Optional[str]:
        """Why the run failed, where TFX could not record it (see end_run)."""
        return next((c.cause for c in self.components.values() if c.cause), None)

    @property
    def span(self) -> Optional[int]:
        return self.examples.get(SPAN) if self.examples else None

    @property
    def input_fingerprint(self) -> Optional[str]:
        """ExampleGen's fingerprint of its input files (names, sizes, mtimes)."""
        return self.examples.get(INPUT_FINGERPRINT) if self.examples else None

    def recorded(self, key: str, default=None):
        """A manifest value: what the run was made from (JSON values decoded)."""
        value = self.manifest.get(key) if self.manifest else None
        if value is None:
            return default
        if key in (CONFIG, SETUP, PACKAGE_VERSIONS, DATA_FILES):
            return json.loads(value)
        return bool(value) if key == DIRTY else value

    @property
    def commit(self) -> str:
        return self.recorded(COMMIT, UNKNOWN)

    @property
    def user(self) -> Optional[str]:
        """Who started the run (None for runs from before it was recorded)."""
        return self.origin.get(RUN_USER) or self.recorded(RUN_USER)

    @property
    def host(self) -> Optional[str]:
        """The machine the run was started on."""
        return self.origin.get(RUN_HOST) or self.recorded(RUN_HOST)

    @property
    def data_fingerprint(self) -> Optional[str]:
        """sha256 over the input files' contents (from the manifest)."""
        return self.recorded(DATA_FINGERPRINT)

    @property
    def config(self) -> Dict[str, Any]:
        return self.recorded(CONFIG, {})

    @property
    def hparams(self) -> Dict[str, Any]:
        """The hyperparameters the run was configured with (overrides of the defaults)."""
        return self.config.get('hparams', {})

    @property
    def metrics(self) -> Dict[str, float]:
        """The Evaluator's metrics on the overall slice, e.g. {'auc': 0.948, ...}."""
        value = self.evaluation.get(OVERALL_METRICS) if self.evaluation else None
        return json.loads(value) if value else {}

    @property
    def auc(self) -> Optional[float]:
        return self.metrics.get('auc')

    @property
    def model_fingerprint(self) -> Optional[str]:
        return self.model.get(MODEL_FINGERPRINT) if self.model else None

    @property
    def trained_with(self) -> Dict[str, Any]:
        """The hyperparameters the Trainer used (train_steps included), as it recorded."""
        value = self.model.get(TRAINED_WITH) if self.model else None
        return json.loads(value) if value else {}

    @property
    def blessed(self) -> Optional[bool]:
        return None if self.blessing is None else self.blessing.get(BLESSED) == 1

    @property
    def infra_blessed(self) -> Optional[bool]:
        return None if self.infra_blessing is None else self.infra_blessing.get(BLESSED) == 1

    def _pushed(self, key: str) -> Any:
        """A property of the run's PushedModel (None without one)."""
        return self.pushed_model.get(key) if self.pushed_model is not None else None

    @property
    def pushed(self) -> bool:
        return self._pushed(PUSHED) == 1

    @property
    def pushed_version(self) -> Optional[str]:
        return self._pushed(PUSHED_VERSION) if self.pushed else None

    @property
    def pushed_destination(self) -> Optional[str]:
        return self._pushed(PUSHED_DESTINATION)

    @property
    def already_pushed(self) -> bool:
        """The Pusher found the model already served by the newest version: it recorded
        that version and copied nothing."""
        return self._pushed(ALREADY_PUSHED) == 1

    @property
    def rolled_back_to(self) -> Optional[str]:
        """For a rollback's push: the version whose model it put back."""
        return self._pushed(ROLLED_BACK_TO)

    @property
    def canary_failure(self) -> Optional[str]:
        """Why the canary refused the model, as it recorded."""
        return self.infra_blessing.get(INFRA_REASON) if self.infra_blessing is not None else None


MISSING, EMPTY, DAMAGED, UNAVAILABLE, READY = 'missing', 'empty', 'damaged', 'unavailable', 'ready'
# What a store with runs holds: MLMD's schema version, the runs and their executions.
_RECORD_TABLES = ('MLMDEnv', 'Context', 'Execution')
_SQLITE_MODES = metadata_store_pb2.SqliteMetadataSourceConfig


# ML Metadata 1.16 and TFX 1.16 on PostgreSQL, mended here (every call of ML
# Metadata's client goes through MetadataStore._call_method):
# - ML Metadata cannot write a string with a backslash: it cuts the quotes off
#   libpq's escaped literal, and a backslash makes libpq write that as E'...',
#   whose E the cut leaves outside (a syntax error at the first such string: TFX's
#   Evaluator records its eval_config, whose metric configs are JSON in JSON).
#   Strings go in with each backslash written as _MARK + '/' (and _MARK doubled),
#   and come out as they were.
# - TFX pairs records asked for by id with the ids it asked for; PostgreSQL gives
#   them in any order: they are put in the order asked, as SQLite gives them.
_MARK = '\ue05c'      # a private-use character, nowhere in what TFX or people write
_MARKED = re.compile(_MARK + '(.)', re.DOTALL)


def _mark(text: str) -> str:
    return text.replace(_MARK, _MARK + _MARK).replace('\\', _MARK + '/')


def _unmark(text: str) -> str:
    return _MARKED.sub(lambda m: '\\' if m.group(1) == '/' else m.group(1), text)


def _rewrite_strings(message: Any, rewrite: Callable[[str], str]) -> None:
    """Every string field of a protocol message, nested ones included, rewritten."""
    for field, value in message.ListFields():
        if field.type == field.TYPE_STRING:
            if field.label == field.LABEL_REPEATED:
                value[:] = [rewrite(v) for v in value]
            else:
                setattr(message, field.name, rewrite(value))
        elif field.type == field.TYPE_MESSAGE:
            if field.message_type.GetOptions().map_entry:
                items = value.values()
            elif field.label == field.LABEL_REPEATED:
                items = value
            else:
                items = [value]
            for item in items:
                if hasattr(item, 'ListFields'):
                    _rewrite_strings(item, rewrite)


# Requests by id, and where their answers are: (the ids asked, the records found).
_BY_ID = {'GetArtifactsByID': ('artifact_ids', 'artifacts'),
          'GetExecutionsByID': ('execution_ids', 'executions'),
          'GetContextsByID': ('context_ids', 'contexts'),
          'GetArtifactTypesByID': ('type_ids', 'artifact_types'),
          'GetExecutionTypesByID': ('type_ids', 'execution_types'),
          'GetContextTypesByID': ('type_ids', 'context_types')}


def _in_order_asked(method_name: str, request: Any, response: Any) -> None:
    """The records a request by ids found, in the order of its ids. SQLite gives them
    in that order; PostgreSQL in any, and TFX pairs them with what it asked for
    (a cached execution's output artifacts with its events: a Transform taken from
    the cache gave its graph as its examples)."""
    asked, found = _BY_ID[method_name]
    records = getattr(response, found)
    by_id = {record.id: copy.deepcopy(record) for record in records}
    del records[:]
    records.extend(by_id[i] for i in getattr(request, asked) if i in by_id)


def _call_on_postgresql(original: Callable[..., None]) -> Callable[..., None]:
    """ML Metadata's client call, mended for PostgreSQL stores: backslashes marked
    going in and unmarked coming out, records by id in the order asked."""
    def call(self: Any, method_name: str, request: Any, response: Any) -> None:
        if not (isinstance(self._config, metadata_store_pb2.ConnectionConfig)
                and self._config.HasField('postgresql')):
            return original(self, method_name, request, response)
        sent = request.SerializeToString()
        if b'\\' in sent or _MARK.encode() in sent:
            request = copy.deepcopy(request)
            _rewrite_strings(request, _mark)
        original(self, method_name, request, response)
        if _MARK.encode() in response.SerializeToString():
            _rewrite_strings(response, _unmark)
        if method_name in _BY_ID:
            _in_order_asked(method_name, request, response)
    call.mended = True  # type: ignore[attr-defined]
    return call


def _mend_for_postgresql() -> None:
    """Installs the mending of ML Metadata's client for PostgreSQL (once per process)."""
    current = metadata_store.MetadataStore._call_method
    if not getattr(current, 'mended', False):
        metadata_store.MetadataStore._call_method = _call_on_postgresql(current)


def connection_config(store: Store, read_only: bool = False,
                      create: bool = True) -> metadata_store_pb2.ConnectionConfig:
    """ML Metadata's ConnectionConfig for the store (LocalDagRunner takes it): a
    SQLite file (created if `create`, opened read-only if asked), or a PostgreSQL
    database, which must exist: ML Metadata would create one for a misspelt name,
    and a team's history would split. A password from the URL goes in the config
    (runner/logs.py keeps it out of the log); else libpq finds it, in PGPASSWORD
    or the passfile."""
    config = metadata_store_pb2.ConnectionConfig()
    if not store.shared:
        config.sqlite.filename_uri = store.path
        config.sqlite.connection_mode = (
            _SQLITE_MODES.READONLY if read_only else
            _SQLITE_MODES.READWRITE_OPENCREATE if create else _SQLITE_MODES.READWRITE)
        return config
    _mend_for_postgresql()
    server = config.postgresql
    server.host, server.port, server.user = store.host, str(store.port), store.user
    server.dbname, server.skip_db_creation = store.database, True
    if store.password is not None:
        server.password = store.password
    return config


def _read_only(metadata_path: str) -> sqlite3.Connection:
    return sqlite3.connect(f'file:{urllib.parse.quote(metadata_path)}?mode=ro', uri=True)


# SQLite's words for a file that is no database, or one whose pages are damaged.
_DAMAGE = ('not a database', 'malformed', 'encrypted', 'corrupt')


def _roll_back_journal(metadata_path: str) -> None:
    """A run killed mid-write leaves a hot journal, which SQLite rolls back only for
    a connection that may write: open one, where the home allows it."""
    home = os.path.dirname(metadata_path) or '.'
    if os.path.exists(metadata_path + '-journal') and os.access(home, os.W_OK):
        with contextlib.closing(sqlite3.connect(metadata_path)) as db:
            db.execute('SELECT COUNT(*) FROM sqlite_master').fetchone()


def is_store_error(error: BaseException) -> bool:
    """Whether ML Metadata raised it (a write the store refused, say)."""
    return isinstance(error, errors.StatusError)


# How ML Metadata's client and TFX's say that a store's server could not be reached.
_CONNECTION_FAILED = ('metadata source error', 'Failed to establish connection to Metadata')


def is_connection_error(error: BaseException) -> bool:
    """Whether ML Metadata could not connect to its server, here or anywhere in
    the chain of causes (TFX's publish after a component, say)."""
    return any(isinstance(seen, RuntimeError) and any(w in str(seen) for w in _CONNECTION_FAILED)
               for seen in causes(error))


def _file_condition(metadata_path: str) -> Tuple[str, str]:
    if not os.path.isfile(metadata_path):
        return MISSING, ''
    if os.path.getsize(metadata_path) == 0:
        return EMPTY, '0 bytes'
    try:
        _roll_back_journal(metadata_path)
        with contextlib.closing(_read_only(metadata_path)) as db:
            check = db.execute('PRAGMA quick_check').fetchone()[0]
            if check != 'ok':
                return DAMAGED, f'SQLite\'s check: {check}'
            tables = {name for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not set(_RECORD_TABLES) <= tables:
                return EMPTY, 'no ML Metadata tables'
            if not db.execute('SELECT COUNT(*) FROM Context').fetchone()[0]:
                return EMPTY, 'no runs recorded'
    except sqlite3.Error as error:
        damaged = any(word in str(error) for word in _DAMAGE)
        return (DAMAGED if damaged else UNAVAILABLE), str(error)
    return READY, ''


def _server_tables(connection: Any) -> List[str]:
    """ML Metadata's tables in the database (PostgreSQL folds their names to lower case)."""
    return [name for [name] in connection.run(
        'SELECT tablename FROM pg_tables WHERE schemaname = current_schema()')]


def _server_condition(store: Store) -> Tuple[str, str]:
    with postgres.session(store) as connection:
        if not {t.lower() for t in _RECORD_TABLES} <= set(_server_tables(connection)):
            return EMPTY, 'no ML Metadata tables'
        if not connection.run('SELECT COUNT(*) FROM context')[0][0]:
            return EMPTY, 'no runs recorded'
    return READY, ''


def store_condition(store: Store) -> Tuple[str, str]:
    """(condition, detail) of the store. A SQLite file: MISSING; EMPTY when it
    records no run (0 bytes, or MLMD's tables never finished or still empty: what
    a first run that failed early leaves); DAMAGED when it is no SQLite database
    or its pages fail SQLite's check (detail: SQLite's words); UNAVAILABLE when it
    cannot be read now (locked, a hot journal the home does not let SQLite roll
    back); else READY. A server's database: EMPTY or READY; its faults (not
    reachable, password refused, no database) raise postgres.StoreFault."""
    return _server_condition(store) if store.shared else _file_condition(store.path)


def _no_runs(store: Store, why: str) -> NoMetadataError:
    if store.shared:
        return NoMetadataError(f'{why}: run `python -m runner local --metadata {store}` first')
    home = os.path.dirname(store.path) or '.'
    return NoMetadataError(f'{why}: run `python -m runner local --home {home}` first')


def _damaged(store: Store, detail: str) -> DamagedMetadataError:
    return DamagedMetadataError(
        f'ML Metadata at {store} cannot be read ({detail}): move it aside to start '
        'a new history in this home, or put back a copy from a backup')


def check_store(store: Store) -> None:
    """NoMetadataError when there is no store with runs; DamagedMetadataError when
    the store cannot be read; postgres.StoreFault when its server cannot be used."""
    condition, detail = store_condition(store)
    if condition == MISSING:
        raise _no_runs(store, f'no ML Metadata at {store}')
    if condition == EMPTY and store.shared:
        raise _no_runs(store, f'ML Metadata store {store} holds no runs yet ({detail})')
    if condition == EMPTY:
        raise _no_runs(store, f'ML Metadata at {store} holds no runs ({detail}: '
                              'left by a first run that stopped early)')
    if condition == DAMAGED:
        raise _damaged(store, detail)
    if condition == UNAVAILABLE:
        raise _unavailable(store, detail)


def _unavailable(store: Store, detail: str) -> StoreUnavailable:
    if store.shared:
        return StoreUnavailable(f'ML Metadata store {store} cannot be opened now ({detail})')
    return StoreUnavailable(f'ML Metadata at {store} cannot be opened now ({detail}): '
                            'if a run was killed while writing it, run `runner runs` where the '
                            'home can be written, which repairs it')


def connect(store: Store) -> metadata_store.MetadataStore:
    """A connection to the store (read-only, for a SQLite file); NoMetadataError if
    it holds no runs, DamagedMetadataError if it cannot be read, StoreFault if its
    server cannot be used."""
    check_store(store)
    return _open(store, read_only=True)


def _open(store: Store, read_only: bool) -> metadata_store.MetadataStore:
    try:
        return metadata_store.MetadataStore(connection_config(store, read_only, create=False))
    except RuntimeError as error:     # MLMD's own check of its schema, SQLite or the server
        detail = str(error).split(' query:')[0]
        if store.shared:
            postgres.check(store)     # the server's fault, named; else MLMD's words
        elif any(word in detail for word in _DAMAGE):
            raise _damaged(store, detail) from None
        raise _unavailable(store, detail) from None


def refuse_unreadable(store: Store) -> None:
    """DamagedMetadataError or StoreUnavailable if a store is there and cannot be
    read (before a run that would write it); StoreFault if its server cannot be used."""
    condition, detail = store_condition(store)
    if condition == DAMAGED:
        raise _damaged(store, detail)
    if condition == UNAVAILABLE:
        raise _unavailable(store, detail)


def recreate_if_empty(store: Store) -> Optional[str]:
    """Before a run writes the store: a SQLite file that records no run (a first
    run left it empty or unfinished) is removed, for the run to create afresh, and
    a line says so; one that cannot be read is refused (refuse_unreadable). A
    store with runs, and a server's database, are never touched."""
    refuse_unreadable(store)
    if store.shared:
        return None
    condition, detail = store_condition(store)
    if condition != EMPTY:
        return None
    for leftover in (store.path, store.path + '-journal'):
        if os.path.exists(leftover):
            os.remove(leftover)
    return (f'ML Metadata at {store} recorded no run ({detail}: left by a first run '
            'that stopped early); this run creates it afresh')


def end_run(store: Store, run_id: str, state: str, ended: Optional[str] = None,
            cause: Optional[str] = None, stop: bool = False) -> List[str]:
    """Marks the executions of run_id that are still RUNNING or NEW as `state`
    (CANCELED, with how the run ended, or FAILED, with its cause); returns their node
    ids. For a stop, those TFX marked FAILED too (a stop a library re-raised as another
    exception), and with none to mark, how the run ended goes on its last execution
    (a stop between components), its state kept. Only while no run is under way on
    the store (its lock held). StoreNotWritten when the store cannot take it."""
    try:
        return _end_run(store, run_id, state, ended, cause, stop)
    except (errors.StatusError, RuntimeError, OSError, postgres.StoreFault) as error:
        raise StoreNotWritten(f'ML Metadata at {store} could not record how run '
                              f'{run_id} ended: {error}') from error


def record_origin(store: Store, run_id: str, origin: Mapping[str, str]) -> None:
    """Who started the run and where (RUN_USER, RUN_HOST), on its pipeline_run
    context: every pipeline's runs, those that record no manifest too (batch
    inference, rollbacks). StoreNotWritten when the store cannot take it."""
    try:
        metadata = _open(store, read_only=False)
        context = metadata.get_context_by_type_and_name(RUN_CONTEXT, run_id)
        if context is None:
            return
        for key, value in origin.items():
            context.custom_properties[key].string_value = value
        metadata.put_contexts([context])
    except (errors.StatusError, RuntimeError, OSError, postgres.StoreFault) as error:
        raise StoreNotWritten(f'ML Metadata at {store} could not record who started run '
                              f'{run_id}: {error}') from error


def _end_run(store: Store, run_id: str, state: str, ended: Optional[str],
             cause: Optional[str], stop: bool) -> List[str]:
    metadata = _open(store, read_only=False)
    context = metadata.get_context_by_type_and_name(RUN_CONTEXT, run_id)
    if context is None:
        return []
    nodes = _nodes_of_executions(metadata)
    open_states = (metadata_store_pb2.Execution.RUNNING, metadata_store_pb2.Execution.NEW) + (
        (metadata_store_pb2.Execution.FAILED,) if stop else ())
    executions = metadata.get_executions_by_context(context.id)
    unfinished = [e for e in executions if e.last_known_state in open_states]
    if stop and not unfinished and ended and executions:
        last = max(executions, key=lambda e: e.id)
        last.custom_properties[ENDED].string_value = ended
        metadata.put_executions([last])
    for execution in unfinished:
        execution.last_known_state = _STATES.Value(state)
        for key, value in ((ENDED, ended), (CAUSE, cause)):
            if value:
                execution.custom_properties[key].string_value = value
    if unfinished:
        metadata.put_executions(unfinished)
    return [nodes.get(e.id, ('', '?'))[1] for e in unfinished]


def _python_value(value: metadata_store_pb2.Value):
    kind = value.WhichOneof('value')
    if kind == 'struct_value':
        from google.protobuf import json_format
        struct = json_format.MessageToDict(value.struct_value)
        # TFX stores a JSON value that is not an object as {"__value__": value}.
        return struct['__value__'] if set(struct) == {'__value__'} else struct
    return getattr(value, kind) if kind else None


def _artifact(artifact: metadata_store_pb2.Artifact) -> Artifact:
    return Artifact(
        id=artifact.id, type=artifact.type, uri=artifact.uri,
        properties={k: _python_value(v) for k, v in
                    [*artifact.properties.items(), *artifact.custom_properties.items()]},
        created=artifact.create_time_since_epoch / 1000)


def _string_property(execution: metadata_store_pb2.Execution, key: str) -> Optional[str]:
    value = execution.custom_properties.get(key)
    return value.string_value if value is not None and value.string_value else None


def _nodes_of_executions(store) -> Dict[int, Tuple[str, str]]:
    """Execution id -> (pipeline name, node id), from the node contexts."""
    nodes = {}
    for context in store.get_contexts_by_type(NODE_CONTEXT):
        pipeline, node = context.name.split('.', 1)
        for execution in store.get_executions_by_context(context.id):
            nodes[execution.id] = (pipeline, node)
    return nodes


def _stage_artifacts(components: Mapping[str, ComponentRun]) -> Dict[str, Artifact]:
    found = {}
    for stage, sources in STAGE_OUTPUTS.items():
        for node, key in sources:
            artifacts = components[node].outputs.get(key) if node in components else None
            if artifacts:
                found[stage] = artifacts[0]
                break
    return found


def load_runs(store, pipeline_name: Optional[str] = None) -> List[RunRecord]:
    """Every run (of one pipeline, if named), newest first."""
    nodes = _nodes_of_executions(store)
    contexts = store.get_contexts_by_type(RUN_CONTEXT)
    executions = {c.id: sorted(store.get_executions_by_context(c.id), key=lambda e: e.id)
                  for c in contexts}
    events = store.get_events_by_execution_ids([e.id for es in executions.values() for e in es])
    artifacts = {a.id: _artifact(a)
                 for a in store.get_artifacts_by_id(list({e.artifact_id for e in events}))}
    linked: Dict[int, Dict[int, Dict[str, List[Artifact]]]] = {
        metadata_store_pb2.Event.OUTPUT: {}, metadata_store_pb2.Event.INPUT: {}}
    for event in events:
        if event.type in linked and event.artifact_id in artifacts:
            key = event.path.steps[0].key if event.path.steps else ''
            linked[event.type].setdefault(event.execution_id, {}).setdefault(key, []).append(
                artifacts[event.artifact_id])
    outputs = linked[metadata_store_pb2.Event.OUTPUT]
    inputs = linked[metadata_store_pb2.Event.INPUT]

    records = []
    for context in contexts:
        runs = [e for e in executions[context.id] if e.id in nodes]
        if not runs:
            continue
        pipeline = nodes[runs[0].id][0]
        if pipeline_name is not None and pipeline != pipeline_name:
            continue
        components = {}
        for execution in runs:
            node = nodes[execution.id][1]
            components[node] = ComponentRun(
                node=node, execution_id=execution.id,
                state=_STATES.Name(execution.last_known_state),
                start=execution.create_time_since_epoch / 1000,
                end=execution.last_update_time_since_epoch / 1000,
                outputs={k: tuple(sorted(v, key=lambda a: a.id))
                         for k, v in outputs.get(execution.id, {}).items()},
                inputs={k: tuple(sorted(v, key=lambda a: a.id))
                        for k, v in inputs.get(execution.id, {}).items()},
                ended=_string_property(execution, ENDED),
                cause=_string_property(execution, CAUSE))
        records.append(RunRecord(
            run_id=context.name, pipeline=pipeline,
            start=context.create_time_since_epoch / 1000,
            end=max(c.end for c in components.values()),
            components=components, **_stage_artifacts(components),
            origin={k: _python_value(v) for k, v in context.custom_properties.items()
                    if k in (RUN_USER, RUN_HOST)}))
    return sorted(records, key=lambda r: r.start, reverse=True)


def find_run(runs: Sequence[RunRecord], run_id: str) -> RunRecord:
    """The run with this id, or the one run whose id starts with it; LookupError otherwise."""
    exact = [r for r in runs if r.run_id == run_id]
    matches = exact or [r for r in runs if r.run_id.startswith(run_id)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise LookupError(f'no run {run_id!r} in ML Metadata: `python -m runner runs` lists them')
    raise LookupError(f'{run_id!r} names {len(matches)} runs '
                      f'({", ".join(r.run_id for r in matches[:3])}...): give more of the id')


def latest_artifact(store, type_name: str) -> Optional[Artifact]:
    """The newest live artifact of a type, e.g. 'ExampleStatistics'."""
    live = [a for a in store.get_artifacts_by_type(type_name)
            if a.state == metadata_store_pb2.Artifact.LIVE]
    return _artifact(max(live, key=lambda a: a.id)) if live else None


def latest_blessed_model(store) -> Optional[Artifact]:
    """The Model the Evaluator blessed last."""
    blessings = [b for b in store.get_artifacts_by_type('ModelBlessing')
                 if b.custom_properties[BLESSED].int_value == 1]
    if not blessings:
        return None
    blessing = max(blessings, key=lambda b: b.id)
    [model] = store.get_artifacts_by_id([blessing.custom_properties[CURRENT_MODEL_ID].int_value])
    return _artifact(model)


def pushed_run(runs: Sequence[RunRecord], version: Optional[int] = None) -> Optional[RunRecord]:
    """The run that pushed `version` (the one that copied it, not a re-run that found it
    already there); without a version, the newest run that pushed a model. `runs` newest first."""
    pushing = [r for r in runs if r.pushed]
    if version is None:
        return pushing[0] if pushing else None
    same = [r for r in pushing if r.pushed_version == str(version)]
    copied = [r for r in same if not r.already_pushed]
    return next(iter(copied or same), None)


def producer(runs: Sequence[RunRecord], artifact_id: int) -> Optional[RunRecord]:
    """The run in which an artifact was made (not a later run that took it from the cache)."""
    makers = [r for r in runs for c in r.components.values() if c.state == 'COMPLETE'
              and any(a.id == artifact_id for outs in c.outputs.values() for a in outs)]
    return min(makers, key=lambda r: r.start) if makers else None


# --- A SQLite store copied into an empty PostgreSQL one ---------------------------

# ML Metadata's tables, each after those its rows refer to; those with an id column
# of their own count it from a sequence on PostgreSQL.
COPIED_TABLES = ('Type', 'TypeProperty', 'ParentType', 'Artifact', 'ArtifactProperty',
                 'Execution', 'ExecutionProperty', 'Context', 'ContextProperty',
                 'ParentContext', 'Event', 'EventPath', 'Association', 'Attribution')
_COUNTED = ('Type', 'Artifact', 'Execution', 'Context', 'Event', 'Association', 'Attribution')
_ROWS_PER_INSERT = 200


class StoreNotEmpty(UsageError):
    """The store to copy into holds records already."""


def _schema_version(connection: Any) -> int:
    return int(connection.run('SELECT MAX(schema_version) FROM mlmdenv')[0][0])


def _records_in(connection: Any) -> Dict[str, int]:
    """How many artifacts, executions, contexts and types of the store's users (not
    ML Metadata's own mlmd.* types) a PostgreSQL store holds."""
    counts = {table: connection.run(f'SELECT COUNT(*) FROM {table}')[0][0]
              for table in ('artifact', 'execution', 'context')}
    counts['type'] = connection.run("SELECT COUNT(*) FROM type WHERE name NOT LIKE 'mlmd.%'")[0][0]
    return {table: count for table, count in counts.items() if count}


def refuse_non_empty(target: Store) -> None:
    """StoreNotEmpty unless the PostgreSQL store holds no records (no ML Metadata
    tables yet, or only ML Metadata's own types); StoreFault if its server cannot
    be used."""
    with postgres.session(target) as connection:
        held = _records_in(connection) if 'mlmdenv' in _server_tables(connection) else {}
    if held:
        what = ', '.join(f'{count} {table} rows' for table, count in sorted(held.items()))
        raise StoreNotEmpty(f'ML Metadata store {target} is not empty ({what}): copy into a '
                            'database of its own, new and empty (createdb)')


def _boolean_columns(connection: Any) -> Dict[str, set]:
    rows = connection.run("SELECT table_name, column_name FROM information_schema.columns "
                          "WHERE table_schema = current_schema() AND data_type = 'boolean'")
    found: Dict[str, set] = {}
    for table, column in rows:
        found.setdefault(table, set()).add(column)
    return found


def _copied_value(value: Any, boolean: bool) -> Any:
    """A SQLite value as PostgreSQL takes it: 0/1 for booleans become False/True, strings
    marked as ML Metadata's client on PostgreSQL writes them (_mark)."""
    if boolean and value is not None:
        return bool(value)
    return _mark(value) if isinstance(value, str) else value


def _copy_table(source: sqlite3.Connection, target: Any, table: str,
                booleans: Dict[str, set]) -> int:
    cursor = source.execute(f'SELECT * FROM `{table}`')
    columns = [d[0].lower() for d in cursor.description]
    flags = [column in booleans.get(table.lower(), set()) for column in columns]
    target.run(f'DELETE FROM {table.lower()}')      # ML Metadata's own types: the source has them
    count = 0
    while True:
        rows = cursor.fetchmany(_ROWS_PER_INSERT)
        if not rows:
            return count
        values, params = [], {}
        for r, row in enumerate(rows):
            names = [f'v{r}_{c}' for c in range(len(columns))]
            values.append('(' + ', '.join(':' + n for n in names) + ')')
            params.update({n: _copied_value(v, flag)
                           for n, v, flag in zip(names, row, flags, strict=True)})
        target.run(f'INSERT INTO {table.lower()} ({", ".join(columns)}) VALUES '
                   + ', '.join(values), **params)
        count += len(rows)


def copy_store(source: Store, target: Store) -> Dict[str, int]:
    """Copies a SQLite store with runs into an empty PostgreSQL store, table by table
    in one transaction: every type, artifact, execution, context, event,
    attribution and association with all their properties, ids and times kept
    (ML Metadata's API would give new ids and times, and the ids that properties
    hold, such as a blessing's model id, would point elsewhere). Rows per table.
    StoreNotEmpty if the target holds records; UsageError if the two ML Metadata
    schemas differ."""
    check_store(source)
    refuse_non_empty(target)
    _open(target, read_only=False)       # ML Metadata's tables, made if not there yet
    with postgres.session(target) as connection, \
            contextlib.closing(_read_only(source.path)) as db:
        theirs = db.execute('SELECT MAX(schema_version) FROM MLMDEnv').fetchone()[0]
        if theirs != _schema_version(connection):
            raise UsageError(f'ML Metadata at {source} has schema version {theirs}, '
                             f'{target} {_schema_version(connection)}: open the older '
                             'with this version of ML Metadata first (a run upgrades it)')
        booleans = _boolean_columns(connection)
        connection.run('BEGIN')
        copied = {table: _copy_table(db, connection, table, booleans)
                  for table in COPIED_TABLES}
        for table in _COUNTED:
            connection.run(f"SELECT setval(pg_get_serial_sequence('{table.lower()}', 'id'), "
                           f'COALESCE(MAX(id), 0) + 1, false) FROM {table.lower()}')
        connection.run('COMMIT')
    return copied
