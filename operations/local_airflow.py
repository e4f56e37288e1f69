"""Apache Airflow on this machine for the pipeline's DAGs (`make airflow`, `make
airflow-stop`, and the tests, on ports and homes of their own).

    virtualenv     requirements-airflow.lock: requirements.lock's pins with Airflow
                   2.11.0 beside them (Airflow needs werkzeug 2, the OpenTelemetry
                   of protobuf 3 and rich 13, which requirements.lock pins otherwise,
                   so Airflow never goes into .venv), in the cache outside the
                   repository; this checkout on its PYTHONPATH
    AIRFLOW_HOME   its airflow.cfg (written here), logs, pid files, the admin's
                   password, the DAGs' settings (operations/on_airflow.py)
    database       a database `airflow` on the `make store` server when it runs
                   (LocalExecutor: tasks in parallel), else SQLite in AIRFLOW_HOME
                   (SequentialExecutor: one task at a time)
    processes      the scheduler and the webserver (UI and the stable REST API,
                   /api/v1/, HTTP basic auth only) on 127.0.0.1

No example DAGs, no default credentials: an admin whose password is generated
at the first start and kept in AIRFLOW_HOME/admin-password (readable by its
owner only). Starting what runs and stopping what does not are no-ops.
"""

import base64
import configparser
import dataclasses
import io
import json
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Dict, List, Mapping, Optional

from common.atomic_file import write_atomically
from common.exit_status import ProblemFound, UsageError
from operations import local_installs, local_processes, store_server
from pipeline.config import REPO_ROOT
from pipeline.store_url import Store

AIRFLOW_VERSION = '2.11.0'
LOCK_FILE = os.path.join(REPO_ROOT, 'requirements-airflow.lock')
DAGS_FOLDER = os.path.join(REPO_ROOT, 'dags')
HOST = '127.0.0.1'
DEFAULT_PORT = 18080           # beside Airflow's own default, 8080, which many programs take
ADMIN = 'admin'
DATABASE = 'airflow'
PROCESSES = ('scheduler', 'webserver')
READY_SECONDS = 240.0

Note = Callable[[str], None]


def default_cache() -> str:
    """The cache this goes to (local_installs.cache_dir)."""
    return local_installs.cache_dir('airflow')


@dataclasses.dataclass(frozen=True)
class Installation:
    """Airflow's virtualenv under a cache directory."""

    root: str

    @property
    def venv(self) -> str:
        return os.path.join(self.root, 'venv')

    @property
    def python(self) -> str:
        return local_installs.venv_python(self.venv)

    @property
    def airflow(self) -> str:
        return os.path.join(self.venv, 'bin', 'airflow')

    def installed(self) -> bool:
        return local_installs.venv_ready(self.venv, LOCK_FILE)


def install(root: str, note: Note, in_use: bool = False) -> Installation:
    """Airflow's virtualenv from requirements-airflow.lock; again when the lock changed
    or its interpreter went, unless Airflow runs from it (`in_use`: UsageError)."""
    installation = Installation(os.path.abspath(root))
    if installation.installed():
        return installation
    if in_use:
        raise UsageError(f'requirements-airflow.lock changed, and Airflow runs from '
                         f'{installation.venv}: `make airflow-stop` first, then start it again')
    os.makedirs(installation.root, exist_ok=True)
    log = os.path.join(installation.root, 'install.log')
    note(f'Installing Airflow {AIRFLOW_VERSION} into {installation.venv} (log: {log})')
    local_installs.build_venv(installation.venv, LOCK_FILE, "Airflow's virtualenv", log)
    return installation


@dataclasses.dataclass(frozen=True)
class Timings:
    """How quickly the scheduler notices things: new DAG files, a task whose process
    is gone, a scheduler that died (the tests ask for seconds)."""

    file_process_seconds: int = 30
    zombie_seconds: int = 120
    orphan_check_seconds: int = 60
    scheduler_health_seconds: int = 30


@dataclasses.dataclass(frozen=True)
class LocalAirflow:
    """Airflow's processes with their home (AIRFLOW_HOME), webserver port and database
    (a SQLAlchemy URL; empty: SQLite in the home)."""

    installation: Installation
    home: str
    port: int = DEFAULT_PORT
    database: str = ''
    timings: Timings = Timings()

    @property
    def url(self) -> str:
        return f'http://{HOST}:{self.port}'

    @property
    def executor(self) -> str:
        return 'LocalExecutor' if self.database else 'SequentialExecutor'

    @property
    def password_file(self) -> str:
        return os.path.join(self.home, 'admin-password')

    def pid_file(self, process: str) -> str:
        return os.path.join(self.home, 'run', f'{process}.pid')

    def log_file(self, process: str) -> str:
        return os.path.join(self.home, 'logs', f'{process}.log')


def sqlalchemy_url(store: Store) -> str:
    """Airflow's database on a PostgreSQL server (psycopg2, as Airflow's docs ask), its
    password left to PGPASSWORD or the passfile as for every store."""
    return store.url.replace(f'{store.kind}://', 'postgresql+psycopg2://', 1)


def database_url(store: Optional[Store]) -> str:
    """Airflow's database: on the server a store names, else `airflow` on the make
    store server if it runs, else '' (SQLite in AIRFLOW_HOME)."""
    if store is None:
        server = store_server.default_server()
        if not store_server.installed() or store_server.running_port(server) is None:
            return ''
        store = store_server.create_database(server, DATABASE)
    return sqlalchemy_url(store)


def _recorded_configuration(home: str) -> Optional[configparser.ConfigParser]:
    parser = configparser.ConfigParser(interpolation=None)
    return parser if parser.read(os.path.join(home, 'airflow.cfg')) else None


def recorded_port(home: str) -> Optional[int]:
    """The webserver's port in the airflow.cfg of a home, if one was written."""
    parser = _recorded_configuration(home)
    port = parser.get('webserver', 'web_server_port', fallback='') if parser else ''
    return int(port) if port.isdigit() else None


def recorded_database(home: str) -> str:
    """The database in the airflow.cfg of a home as LocalAirflow names it ('' for
    SQLite, or when none was written)."""
    parser = _recorded_configuration(home)
    url = parser.get('database', 'sql_alchemy_conn', fallback='') if parser else ''
    return '' if url.startswith('sqlite:') else url


def as_running(installation: Installation, home: str) -> Optional[LocalAirflow]:
    """The Airflow of a home as it was started, if any of its processes runs."""
    airflow = LocalAirflow(installation, home, recorded_port(home) or DEFAULT_PORT,
                           recorded_database(home))
    return airflow if running(airflow) else None


def refuse_passwords(*stores: Optional[Store]) -> None:
    """Airflow's tasks and airflow.cfg name a store by its URL without a password (it
    is never written down): one in the URL would be lost, and every task refused."""
    for store in stores:
        if store is not None and store.password is not None:
            raise UsageError(f'{store} has its password in the URL, which Airflow\'s tasks '
                             'would not get: put it in PGPASSWORD or a passfile (~/.pgpass) '
                             'and leave it out of the URL')


def refuse_other_settings(running: LocalAirflow, port: Optional[int],
                          database: Optional[Store]) -> None:
    """UsageError unless the port and database asked for (None: any) are those the
    running Airflow has (its airflow.cfg is never rewritten under its processes)."""
    differs = []
    if port is not None and port != running.port:
        differs.append(f'--port {port} (it runs on {running.port})')
    if database is not None and sqlalchemy_url(database) != running.database:
        differs.append(f'--database {database} (it runs on {running.database or "SQLite"})')
    if differs:
        raise UsageError(f'Airflow runs from {running.home} with other settings: '
                         f'{", ".join(differs)}: make airflow-stop first')


def _secret(path: str, make: Callable[[], str]) -> str:
    """A secret kept in a file only its owner reads, made once."""
    if not os.path.exists(path):
        write_atomically(path, make(), 0o600)
    with open(path) as f:
        return f.read().strip()


def configuration(airflow: LocalAirflow) -> Dict[str, Dict[str, str]]:
    """airflow.cfg's settings (Airflow's defaults for the rest)."""
    home, timings = airflow.home, airflow.timings
    fernet = _secret(os.path.join(home, 'fernet-key'),
                     lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    return {
        'core': {
            'dags_folder': DAGS_FOLDER, 'executor': airflow.executor,
            'load_examples': 'False', 'dags_are_paused_at_creation': 'False',
            'fernet_key': fernet, 'parallelism': '4', 'max_active_tasks_per_dag': '4',
            # Parsing imports the DAG file with this project (not TFX): seconds, under load.
            'dagbag_import_timeout': '120', 'dag_file_processor_timeout': '180',
            'load_default_connections': 'False', 'unit_test_mode': 'False'},
        'database': {'sql_alchemy_conn': airflow.database
                     or f'sqlite:///{os.path.join(home, "airflow.db")}',
                     'load_default_connections': 'False'},
        'logging': {'base_log_folder': os.path.join(home, 'logs'),
                    'dag_processor_manager_log_location':
                        os.path.join(home, 'logs', 'dag_processor_manager.log')},
        'scheduler': {
            'min_file_process_interval': str(timings.file_process_seconds),
            'dag_dir_list_interval': str(max(timings.file_process_seconds, 10)),
            'parsing_processes': '1', 'scheduler_heartbeat_sec': '2',
            'job_heartbeat_sec': '2',
            'scheduler_zombie_task_threshold': str(timings.zombie_seconds),
            'zombie_detection_interval': '5',
            'orphaned_tasks_check_interval': str(timings.orphan_check_seconds),
            'scheduler_health_check_threshold': str(timings.scheduler_health_seconds),
            'enable_health_check': 'False'},
        'webserver': {
            'web_server_host': HOST, 'web_server_port': str(airflow.port),
            'base_url': airflow.url, 'workers': '1', 'expose_config': 'False',
            'warn_deployment_exposure': 'False', 'reload_on_plugin_change': 'False',
            'secret_key': _secret(os.path.join(home, 'webserver-secret'),
                                  lambda: secrets.token_hex(32)),
            'worker_refresh_batch_size': '0', 'web_server_worker_timeout': '300'},
        # The stable REST API with HTTP basic auth, and nothing else: anonymous
        # requests are refused (401).
        'api': {'auth_backends': 'airflow.api.auth.backend.basic_auth'},
        'operators': {'default_owner': 'taxi-pipeline'},
    }


def write_configuration(airflow: LocalAirflow) -> None:
    for directory in ('', 'logs', 'run'):
        os.makedirs(os.path.join(airflow.home, directory), exist_ok=True)
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_dict(configuration(airflow))
    path = os.path.join(airflow.home, 'airflow.cfg')
    text = io.StringIO()
    parser.write(text)
    # It holds the fernet key and the webserver's secret: its owner's only.
    write_atomically(path, text.getvalue(), 0o600)


def environment(airflow: LocalAirflow) -> Dict[str, str]:
    """Airflow's processes' environment: its home, its virtualenv's commands first (the
    SequentialExecutor runs each task as `airflow tasks run`), and this checkout
    importable (the DAG file imports the project's modules; the virtualenv holds no
    copy of it)."""
    path = os.pathsep.join([os.path.dirname(airflow.installation.airflow),
                            os.environ.get('PATH', os.defpath)])
    env = {**os.environ, 'AIRFLOW_HOME': airflow.home, 'PYTHONPATH': REPO_ROOT, 'PATH': path,
           'TF_CPP_MIN_LOG_LEVEL': '2', 'NO_GCE_CHECK': 'true'}
    env.pop('VIRTUAL_ENV', None)
    return env


def _airflow_cli(airflow: LocalAirflow, *args: str) -> str:
    result = subprocess.run([airflow.installation.airflow, *args], capture_output=True,
                            text=True, env=environment(airflow), stdin=subprocess.DEVNULL,
                            timeout=600, cwd=airflow.home)
    if result.returncode != 0:
        lines = (result.stderr.strip() or result.stdout.strip() or '?').splitlines()
        raise ProblemFound(f'airflow {" ".join(args[:2])} failed: {lines[-1]}')
    return result.stdout


def _admin(airflow: LocalAirflow) -> str:
    """The admin's password, made at the first start and given to the admin of the
    database Airflow now has: a user that exists already (`users create` leaves it as
    it is, and exits 0) gets it too, since its database may be another than the one
    the password was made for (SQLite before, the make store server's now)."""
    password = _secret(airflow.password_file, lambda: secrets.token_urlsafe(18))
    created = _airflow_cli(airflow, 'users', 'create', '--username', ADMIN, '--role', 'Admin',
                           '--firstname', 'Taxi', '--lastname', 'Pipeline', '--email',
                           'admin@localhost', '--password', password)
    if 'already exist' in created:
        _airflow_cli(airflow, 'users', 'reset-password', '--username', ADMIN,
                     '--password', password)
    return password


# ---- processes -------------------------------------------------------------------------

def _alive(airflow: LocalAirflow, process: str) -> Optional[int]:
    """The pid of the process if it is still the one started."""
    return local_processes.alive(airflow.pid_file(process))


def running(airflow: LocalAirflow) -> List[str]:
    return [process for process in PROCESSES if _alive(airflow, process) is not None]


# The LocalExecutor forks each task from the scheduler: a scheduler that imported
# TensorFlow, Beam and TFX first hands them to every task, which then starts in
# half a second instead of the 10-20 s of importing them again (measured here,
# under load). Libraries only: the project's modules are imported afresh by each
# task, so a task runs the checkout as it is now.
_PRELOADING_SCHEDULER = """
import sys
import common.bootstrap
import tfx.components, tfx.dsl.compiler.compiler, tfx.orchestration.metadata
import tfx.orchestration.local.runner_utils, tfx.orchestration.portable.launcher
from airflow.__main__ import main
sys.argv = ['airflow', 'scheduler', '--skip-serve-logs']
main()
"""


def _argv(airflow: LocalAirflow, process: str) -> List[str]:
    """The process's command line. The scheduler without serve-logs, which listens on a
    fixed port (8793) on every interface for the task logs of other machines' workers:
    here the webserver reads them from AIRFLOW_HOME/logs."""
    if process == 'scheduler' and airflow.executor == 'LocalExecutor':
        return [airflow.installation.python, '-c', _PRELOADING_SCHEDULER]
    if process == 'scheduler':
        return [airflow.installation.airflow, process, '--skip-serve-logs']
    return [airflow.installation.airflow, process]


def _start_process(airflow: LocalAirflow, process: str) -> int:
    """The scheduler or webserver in a session of its own (its task processes and
    gunicorn's workers go with it), its output in its log; its pid recorded."""
    return local_processes.start_recorded(_argv(airflow, process), environment(airflow),
                                          airflow.log_file(process), airflow.pid_file(process),
                                          airflow.home)


def _stop_process(airflow: LocalAirflow, process: str, seconds: float = 30.0) -> bool:
    """Stops the process (SIGTERM: the scheduler ends its tasks) and then whatever of
    its session is left (SIGKILL after `seconds`), its task processes too when the
    process itself is gone; False if nothing of it was running."""
    return local_processes.stop_recorded(airflow.pid_file(process), seconds)


def request(airflow: LocalAirflow, path: str, method: str = 'GET',
            body: Optional[Dict[str, Any]] = None, password: Optional[str] = None,
            timeout: float = 30.0) -> Any:
    """A call to the webserver (the REST API with the admin's credentials when a
    password is given): its JSON; urllib's HTTPError for a refusal."""
    headers = {'Content-Type': 'application/json'}
    if password is not None:
        token = base64.b64encode(f'{ADMIN}:{password}'.encode()).decode()
        headers['Authorization'] = f'Basic {token}'
    data = json.dumps(body).encode() if body is not None else None
    call = urllib.request.Request(airflow.url + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(call, timeout=timeout) as response:
        return json.load(response)


def _ready(airflow: LocalAirflow, password: str, dag_ids: List[str]) -> bool:
    """The scheduler healthy, the webserver answering, the DAGs parsed."""
    try:
        health = request(airflow, '/health', timeout=5)
        if health.get('scheduler', {}).get('status') != 'healthy':
            return False
        listed = request(airflow, '/api/v1/dags?limit=100', password=password, timeout=10)
    except urllib.error.HTTPError as refused:
        if refused.code == 401:
            raise ProblemFound(f"Airflow refuses the admin's password in "
                               f'{airflow.password_file}: stop it and start it again '
                               '(the start gives the admin that password)') from None
        return False
    except (OSError, ValueError):
        return False
    return set(dag_ids) <= {dag['dag_id'] for dag in listed.get('dags', [])}


def _import_errors(airflow: LocalAirflow, password: str) -> List[str]:
    try:
        found = request(airflow, '/api/v1/importErrors', password=password, timeout=10)
    except (OSError, ValueError):
        return []
    return [error['stack_trace'].strip().splitlines()[-1]
            for error in found.get('import_errors', []) if error.get('stack_trace')]


def wait_until_ready(airflow: LocalAirflow, password: str, dag_ids: List[str],
                     seconds: float = READY_SECONDS) -> None:
    """Waits until the scheduler runs and the DAGs are there; ProblemFound naming a
    process that exited, a DAG file that does not import, or the wait."""
    deadline = time.monotonic() + seconds
    while not _ready(airflow, password, dag_ids):
        for process in PROCESSES:
            if _alive(airflow, process) is None:
                log = airflow.log_file(process)
                raise ProblemFound(f"Airflow's {process} exited while starting: "
                                   f'{local_processes.log_problem(log, "Error|ERROR", 400)} '
                                   f'(log: {log})')
        errors = _import_errors(airflow, password)
        if errors:
            raise ProblemFound(f'the DAG file {DAGS_FOLDER} does not import: {errors[0]}')
        if time.monotonic() > deadline:
            raise ProblemFound(f'Airflow did not have its DAGs within {seconds:.0f} s '
                               f'(logs in {os.path.join(airflow.home, "logs")})')
        time.sleep(1.0)


def make_pools(airflow: LocalAirflow, password: str, pools: Mapping[str, int]) -> None:
    """The pools (name: slots) with those slots, through the REST API."""
    for name, slots in pools.items():
        body = {'name': name, 'slots': slots, 'include_deferred': False}
        try:
            request(airflow, f'/api/v1/pools/{name}', 'PATCH', body, password)
        except urllib.error.HTTPError as missing:
            if missing.code != 404:
                raise ProblemFound(f'Airflow refused the pool {name}: HTTP {missing.code}') \
                    from None
            request(airflow, '/api/v1/pools', 'POST', body, password)


def start(airflow: LocalAirflow, dag_ids: List[str], seconds: float = READY_SECONDS,
          pools: Mapping[str, int] = {}) -> bool:
    """Writes the configuration, migrates the database, makes the admin, starts what of
    the scheduler and webserver does not run, waits until the DAGs are there and makes
    their pools (name: slots); False when both ran already. With part of it running,
    the configuration it runs with stays as it is (as_running: the caller starts it
    as it was). What it started is stopped again if it fails."""
    up = running(airflow)
    if up == list(PROCESSES):
        wait_until_ready(airflow, password(airflow) or '', dag_ids, seconds)
        make_pools(airflow, password(airflow) or '', pools)
        return False
    if 'webserver' not in up and local_processes.port_open(HOST, airflow.port):
        raise UsageError(f'port {airflow.port} on {HOST} is in use by another program: '
                         'choose another with --port')
    if up:
        secret = password(airflow) or ''
    else:
        write_configuration(airflow)
        _airflow_cli(airflow, 'db', 'migrate')
        secret = _admin(airflow)
    started = []
    try:
        for process in PROCESSES:
            if _alive(airflow, process) is None:
                _start_process(airflow, process)
                started.append(process)
        wait_until_ready(airflow, secret, dag_ids, seconds)
        make_pools(airflow, secret, pools)
    except BaseException:
        for process in started:
            _stop_process(airflow, process)
        raise
    return True


def stop(airflow: LocalAirflow) -> List[str]:
    """Stops the webserver and the scheduler (with their task processes); those it
    stopped."""
    # gunicorn waits for its workers 30 s on SIGTERM: the webserver serves nothing
    # that is lost when it ends at once.
    return [process for process in reversed(PROCESSES)
            if _stop_process(airflow, process, 5.0 if process == 'webserver' else 30.0)]


def password(airflow: LocalAirflow) -> Optional[str]:
    """The admin's password, if one was made."""
    return _secret(airflow.password_file, str) if os.path.exists(airflow.password_file) \
        else None
