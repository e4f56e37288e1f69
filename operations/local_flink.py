"""An Apache Flink cluster on this machine for `runner flink`: what it is made of,
installed into a cache outside the repository, and its processes started and
stopped (`make flink`, `make flink-stop`, and the tests, on ports of their own).

    Flink 1.19.3        from PyPI: apache-flink-libraries' sdist holds the jars,
                        the apache-flink wheel the scripts and default config
    Beam's job server   Beam's Flink runner and its runtime dependencies from
                        Maven Central (operations/flink_job_server/pom.xml)
    Beam's boot         the Python SDK's worker entrypoint (the SDK containers'
                        /opt/apache/beam/boot), built from Beam's Go module at
                        this SDK's release: it installs what a job stages (our
                        package) before it starts the SDK harness
    worker virtualenv   requirements.lock without this project: workers get our
                        code only from what each job stages, as on Dataflow

The cluster: a JobManager and a TaskManager (two slots, memory enough for
Transform's 326 tasks) on 127.0.0.1, Beam's job server, and a Beam SDK worker
pool (the EXTERNAL environment a Flink Kubernetes deployment runs beside each
TaskManager). Beam's runner jars are also on the cluster's classpath, loaded
parent-first: Beam then keeps a job's SDK environment between its stages (it
releases it at once when its classes come from a job's own class loader) and
jobs need ship no jars (taxipipeline.flink.ClusterClasspath).
"""

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Tuple

import yaml

from common.exit_status import ProblemFound, UsageError
from operations import local_installs, local_processes
from pipeline.config import REPO_ROOT
from pipeline.fingerprint import file_sha256

FLINK_VERSION = '1.19.3'
# (PyPI project, file, sha256): checked before anything is unpacked.
_PYPI_FILES = (
    ('apache-flink-libraries', f'apache-flink-libraries-{FLINK_VERSION}.tar.gz',
     '4a58e3a1fb7d83340bc96b6c080624c6d792d69fae5d294b96224775204a9c60'),
    ('apache-flink', f'apache_flink-{FLINK_VERSION}-cp310-cp310-manylinux_2_5_x86_64.'
     'manylinux1_x86_64.manylinux_2_17_x86_64.manylinux2014_x86_64.whl',
     'f1c0d2c0245bc0ad2c5ce5bb1b7dfe719410724342671267abfba5190e1827f4'),
)
PYPI_SIMPLE = 'https://pypi.org/simple'
JOB_SERVER_POM = os.path.join(REPO_ROOT, 'operations', 'flink_job_server', 'pom.xml')
JOB_SERVER_MAIN = 'org.apache.beam.runners.flink.FlinkJobServerDriver'
BOOT_MODULE = 'github.com/apache/beam/sdks/v2/python/container'
REQUIREMENTS_LOCK = os.path.join(REPO_ROOT, 'requirements.lock')
# Where Beam's boot makes each worker's virtualenv (fixed in boot.go).
BOOT_VENV_DIR = '/opt/apache/beam-venv'

TASK_SLOTS = 2
# Transform's graph has 326 tasks: with 1728m Flink had 504 network buffers, it needs 512.
# Beam's data plane (gRPC on Netty) takes direct memory outside Flink's network buffers:
# with none for tasks, Transform at 10x failed with "OutOfMemoryError: Direct buffer
# memory" on the fifth job of a cluster's life.
TASKMANAGER_MEMORY = '4096m'
TASKMANAGER_NETWORK_MEMORY = '1024m'
TASKMANAGER_TASK_OFF_HEAP = '768m'
TASKMANAGER_FRAMEWORK_OFF_HEAP = '256m'
# Flink's sorts and hash tables for Beam's GroupByKey; the default 40% of Flink's memory
# would leave no room for the above.
TASKMANAGER_MANAGED_MEMORY = '512m'
JOBMANAGER_MEMORY = '1024m'
# The job server translates and submits; without a bound the JVM takes a quarter of RAM.
JOB_SERVER_HEAP = '1g'
READY_SECONDS = 180.0

Note = Callable[[str], None]


def default_cache() -> str:
    """The cache this goes to (local_installs.cache_dir)."""
    return local_installs.cache_dir('flink')


@dataclasses.dataclass(frozen=True)
class Installation:
    """Paths of the installed parts under one cache directory."""

    root: str

    @property
    def flink_home(self) -> str:
        return os.path.join(self.root, f'flink-{FLINK_VERSION}')

    @property
    def job_server_dir(self) -> str:
        return os.path.join(self.root, 'job-server')

    @property
    def job_server_classpath(self) -> str:
        return (os.path.join(self.job_server_dir, 'lib', '*') + os.pathsep
                + os.path.join(self.job_server_dir, 'taxi-flink-job-server.jar'))

    @property
    def boot(self) -> str:
        return os.path.join(self.root, 'beam-boot', _beam_version(), 'boot')

    @property
    def worker_venv(self) -> str:
        return os.path.join(self.root, 'worker-venv')

    @property
    def worker_python(self) -> str:
        return local_installs.venv_python(self.worker_venv)

    @property
    def worker_site_packages(self) -> str:
        return os.path.join(self.worker_venv, 'lib',
                            f'python{sys.version_info[0]}.{sys.version_info[1]}',
                            'site-packages')


def _beam_version() -> str:
    """The Beam SDK of this environment (its workers boot with the same release)."""
    from importlib import metadata
    return metadata.version('apache-beam')


# ---- installing ------------------------------------------------------------------------

def _pypi_url(project: str, filename: str) -> str:
    """The file's address from PyPI's simple index (JSON form, PEP 691)."""
    request = urllib.request.Request(f'{PYPI_SIMPLE}/{project}/',
                                     headers={'Accept': 'application/vnd.pypi.simple.v1+json'})
    with urllib.request.urlopen(request, timeout=60) as response:
        files = json.load(response)['files']
    for entry in files:
        if entry['filename'] == filename:
            return entry['url']
    raise ProblemFound(f'{filename} is not on {PYPI_SIMPLE}/{project}/')


def _download(project: str, filename: str, sha256: str, directory: str) -> str:
    """The file from PyPI, checked against its pinned sha256."""
    path = os.path.join(directory, filename)
    try:
        with urllib.request.urlopen(_pypi_url(project, filename), timeout=120) as response, \
                open(path, 'wb') as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except (urllib.error.URLError, OSError) as error:
        raise ProblemFound(f'could not download {filename} from PyPI: {error}') from error
    if file_sha256(path) != sha256:
        raise ProblemFound(f'{filename} from PyPI does not have the pinned sha256 {sha256}')
    return path




def _done(path: str, made_from: str) -> bool:
    """Whether the part at path is whole and was made from `made_from` (a digest of what
    it is built from: a changed pin or lock builds it again)."""
    try:
        with open(os.path.join(path, local_installs.MARKER)) as marker:
            return marker.read() == made_from
    except OSError:
        return False


@contextlib.contextmanager
def _staging(target: str, made_from: str) -> Iterator[str]:
    """A part built in a temporary directory beside its place, renamed into it when
    whole: an interrupted install leaves no half-built part a reader takes as whole."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.building-', dir=os.path.dirname(target))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    with open(os.path.join(tmp, local_installs.MARKER), 'w') as marker:
        marker.write(made_from)
    shutil.rmtree(target, ignore_errors=True)
    os.rename(tmp, target)


def _require(tool: str, why: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise UsageError(f'{tool} not found on PATH: it is needed {why}')
    return path


def _install_job_server(installation: Installation, log: str) -> None:
    """Beam's Flink job server: our class and the runner's runtime jars (Maven Central)."""
    mvn = _require('mvn', "to fetch Beam's Flink job server from Maven Central (Maven 3)")
    with _staging(installation.job_server_dir, file_sha256(JOB_SERVER_POM)) as tmp:
        local_installs.run_step(
            [mvn, '-B', '-q', '-f', JOB_SERVER_POM, f'-Dbuild.dir={tmp}/build', 'package',
             'dependency:copy-dependencies', '-DincludeScope=runtime',
             f'-DoutputDirectory={tmp}/lib'], "Maven's build of the job server", log)
        os.rename(os.path.join(tmp, 'build', 'taxi-flink-job-server.jar'),
                  os.path.join(tmp, 'taxi-flink-job-server.jar'))
        shutil.rmtree(os.path.join(tmp, 'build'))


def _runner_jars(installation: Installation) -> Iterator[str]:
    """The job server's jars the cluster needs too: all but Flink's own (the cluster's
    flink-dist has them) and the job server's logger (the cluster has log4j)."""
    lib = os.path.join(installation.job_server_dir, 'lib')
    for name in sorted(os.listdir(lib)):
        if not name.startswith(('flink-', 'slf4j-')):
            yield os.path.join(lib, name)


def _install_flink(installation: Installation, log: str) -> None:
    """Flink's distribution laid out as Flink ships it (bin, conf, lib, opt, plugins),
    with Beam's runner jars in lib/beam (Flink's scripts put lib/**.jar on the classpath)."""
    with _staging(installation.flink_home, _flink_made_from()) as tmp, \
            tempfile.TemporaryDirectory(dir=installation.root) as downloads:
        sdist, wheel = (_download(project, name, sha, downloads)
                        for project, name, sha in _PYPI_FILES)
        with tarfile.open(sdist) as archive:
            archive.extractall(downloads, filter='data')
        deps = os.path.join(downloads, f'apache-flink-libraries-{FLINK_VERSION}', 'deps')
        for part in ('lib', 'opt', 'plugins'):
            shutil.move(os.path.join(deps, part), os.path.join(tmp, part))
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                if member.startswith(('pyflink/bin/', 'pyflink/conf/')) and \
                        not member.endswith('/'):
                    target = os.path.join(tmp, member[len('pyflink/'):])
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with archive.open(member) as source, open(target, 'wb') as out:
                        shutil.copyfileobj(source, out)
        shutil.move(os.path.join(deps, 'bin', 'bash-java-utils.jar'),
                    os.path.join(tmp, 'bin', 'bash-java-utils.jar'))
        for script in os.listdir(os.path.join(tmp, 'bin')):
            os.chmod(os.path.join(tmp, 'bin', script), 0o755)
        os.makedirs(os.path.join(tmp, 'lib', 'beam'))
        for jar in _runner_jars(installation):
            shutil.copy2(jar, os.path.join(tmp, 'lib', 'beam'))


def _install_boot(installation: Installation, log: str) -> None:
    """Beam's Python boot program at this SDK's release, from the Go module proxy."""
    go = _require('go', "to build Beam's Python SDK boot program (the Go toolchain)")
    target = os.path.dirname(installation.boot)
    with _staging(target, BOOT_MODULE) as tmp:
        local_installs.run_step([go, 'install', f'{BOOT_MODULE}@v{_beam_version()}'],
                                "Go's build of Beam's boot", log,
                                env={**os.environ, 'GOBIN': tmp, 'CGO_ENABLED': '0'})
        os.rename(os.path.join(tmp, 'container'), os.path.join(tmp, 'boot'))


def _flink_made_from() -> str:
    """Flink's distribution holds the job server's runner jars (lib/beam)."""
    return f'{FLINK_VERSION} {file_sha256(JOB_SERVER_POM)}'


def install(root: str, note: Note) -> Installation:
    """Installs what is missing, each part once, and again when what it is made from
    changed (the pom's pins, requirements.lock); the installation."""
    installation = Installation(os.path.abspath(root))
    os.makedirs(installation.root, exist_ok=True)
    log = os.path.join(installation.root, 'install.log')
    if not _done(installation.job_server_dir, file_sha256(JOB_SERVER_POM)):
        note(f"Fetching Beam's Flink job server from Maven Central (log: {log})")
        _install_job_server(installation, log)
    if not _done(installation.flink_home, _flink_made_from()):
        note(f'Fetching Flink {FLINK_VERSION} from PyPI')
        _install_flink(installation, log)
    if not _done(os.path.dirname(installation.boot), BOOT_MODULE):
        note(f"Building Beam's Python boot program v{_beam_version()} (Go module proxy)")
        _install_boot(installation, log)
    if not local_installs.venv_ready(installation.worker_venv, REQUIREMENTS_LOCK):
        # requirements.lock without this project: every Beam worker imports TensorFlow,
        # TFX and Beam, and gets our code as a staged package.
        note("Installing the SDK workers' virtualenv from requirements.lock")
        local_installs.build_venv(installation.worker_venv, REQUIREMENTS_LOCK,
                                  'the worker virtualenv', log)
    return installation


# ---- the cluster's processes -----------------------------------------------------------

HOST = '127.0.0.1'


@dataclasses.dataclass(frozen=True)
class Ports:
    """The cluster's ports on 127.0.0.1 (Flink's and Beam's own defaults)."""

    rest: int = 8081           # Flink's REST API and web UI (the master runner flink names)
    rpc: int = 6123            # the JobManager's RPC
    job: int = 8099            # Beam's job service
    artifact: int = 8098       # Beam's artifact staging
    expansion: int = 8097      # Beam's expansion service
    worker_pool: int = 50000   # Beam's SDK worker pool (the EXTERNAL environment)


@dataclasses.dataclass(frozen=True)
class Addresses:
    """Where `runner flink` finds the cluster."""

    flink_master: str
    job_server: str
    worker_pool: str


def addresses(ports: Ports) -> Addresses:
    return Addresses(f'{HOST}:{ports.rest}', f'{HOST}:{ports.job}', f'{HOST}:{ports.worker_pool}')


PROCESSES = ('jobmanager', 'taskmanager', 'job-server', 'worker-pool')


@dataclasses.dataclass(frozen=True)
class LocalCluster:
    """A cluster's processes, their configuration, logs and pid files under state_dir."""

    installation: Installation
    state_dir: str
    ports: Ports = Ports()

    @property
    def conf_dir(self) -> str:
        return os.path.join(self.state_dir, 'conf')

    @property
    def log_dir(self) -> str:
        return os.path.join(self.state_dir, 'log')

    def pid_file(self, process: str) -> str:
        return os.path.join(self.state_dir, f'{process}.pid')

    def log_file(self, process: str) -> str:
        return os.path.join(self.log_dir, f'{process}.log')


def flink_configuration(cluster: LocalCluster) -> Dict[str, object]:
    """Flink's configuration for the cluster: the distribution's defaults (Java 17's
    module flags among them) with this cluster's addresses, memory and directories."""
    with open(os.path.join(cluster.installation.flink_home, 'conf', 'config.yaml')) as f:
        defaults = _flattened(yaml.safe_load(f) or {})
    ports, state = cluster.ports, cluster.state_dir
    return {
        **defaults,
        'jobmanager.rpc.address': HOST, 'jobmanager.rpc.port': ports.rpc,
        'jobmanager.bind-host': HOST, 'jobmanager.memory.process.size': JOBMANAGER_MEMORY,
        'taskmanager.host': HOST, 'taskmanager.bind-host': HOST,
        'taskmanager.numberOfTaskSlots': TASK_SLOTS,
        'taskmanager.memory.process.size': TASKMANAGER_MEMORY,
        'taskmanager.memory.network.min': TASKMANAGER_NETWORK_MEMORY,
        'taskmanager.memory.network.max': TASKMANAGER_NETWORK_MEMORY,
        'taskmanager.memory.task.off-heap.size': TASKMANAGER_TASK_OFF_HEAP,
        'taskmanager.memory.framework.off-heap.size': TASKMANAGER_FRAMEWORK_OFF_HEAP,
        'taskmanager.memory.managed.size': TASKMANAGER_MANAGED_MEMORY,
        'parallelism.default': TASK_SLOTS,
        'rest.address': HOST, 'rest.bind-address': HOST, 'rest.port': ports.rest,
        # Beam's runner jars are on this cluster's classpath: loaded from there, not
        # from jobs (see the module's doc).
        'classloader.resolve-order': 'parent-first',
        # A failed job fails at once, with its cause: Beam's runner waits 3 minutes for
        # an SDK environment on a restarted task, then fails with that timeout
        # (measured), so restarts would only hide the cause. A TaskManager that is gone
        # is noticed after two refused heartbeats (10 s); one that is only slow (a
        # loaded machine: 10 s failed a run) has a minute. A job that finds no slot
        # fails within half a minute. A failed component's run is taken up again
        # from ML Metadata's cache.
        'restart-strategy.type': 'none',
        'heartbeat.interval': 5000, 'heartbeat.timeout': 60000,
        'slot.request.timeout': 30000,
        'io.tmp.dirs': os.path.join(state, 'tmp'),
        'web.tmpdir': os.path.join(state, 'web'),
        'blob.storage.directory': os.path.join(state, 'blobs'),
        'env.pid.dir': state, 'env.log.dir': cluster.log_dir,
    }


def _flattened(tree: Mapping[str, object], prefix: str = '') -> Dict[str, object]:
    flat: Dict[str, object] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat.update(_flattened(value, f'{prefix}{key}.'))
        else:
            flat[f'{prefix}{key}'] = value
    return flat


def _write_configuration(cluster: LocalCluster) -> None:
    os.makedirs(cluster.conf_dir, exist_ok=True)
    for directory in ('tmp', 'web', 'blobs', 'log'):
        os.makedirs(os.path.join(cluster.state_dir, directory), exist_ok=True)
    source = os.path.join(cluster.installation.flink_home, 'conf')
    for name in os.listdir(source):
        if name.startswith('log4j'):
            shutil.copy2(os.path.join(source, name), cluster.conf_dir)
    with open(os.path.join(cluster.conf_dir, 'config.yaml'), 'w') as f:
        yaml.safe_dump(flink_configuration(cluster), f, default_flow_style=False)


def _worker_environment(installation: Installation) -> Dict[str, str]:
    """The SDK worker pool's environment: the worker virtualenv first on PATH, and its
    packages importable from the virtualenv Beam's boot makes for each worker
    (boot.go makes it with the base interpreter, which does not see ours)."""
    env = {**os.environ,
           'PATH': os.path.join(installation.worker_venv, 'bin') + os.pathsep
           + os.environ.get('PATH', ''),
           'PYTHONPATH': installation.worker_site_packages,
           'TF_CPP_MIN_LOG_LEVEL': '2'}
    env.pop('VIRTUAL_ENV', None)
    if not _can_make(BOOT_VENV_DIR):
        # Boot's per-worker virtualenvs go under /opt/apache; where that cannot be
        # written, workers install what jobs stage into the worker virtualenv.
        env['RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT'] = '1'
    return env


def _can_make(directory: str) -> bool:
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:
        return False
    return os.access(directory, os.W_OK)


def _command(cluster: LocalCluster, process: str) -> Tuple[List[str], Dict[str, str]]:
    """(argv, environment) of one of the cluster's processes."""
    installation, ports = cluster.installation, cluster.ports
    flink_env = {**os.environ, 'FLINK_CONF_DIR': cluster.conf_dir,
                 'FLINK_LOG_DIR': cluster.log_dir}
    bin_dir = os.path.join(installation.flink_home, 'bin')
    if process == 'jobmanager':
        return [os.path.join(bin_dir, 'jobmanager.sh'), 'start-foreground'], flink_env
    if process == 'taskmanager':
        return [os.path.join(bin_dir, 'taskmanager.sh'), 'start-foreground'], flink_env
    if process == 'job-server':
        return ([_require('java', "to run Beam's Flink job server (Java 11 or 17)"),
                 f'-Xmx{JOB_SERVER_HEAP}', '-cp',
                 installation.job_server_classpath, JOB_SERVER_MAIN,
                 f'--flink-master={HOST}:{ports.rest}', f'--flink-conf-dir={cluster.conf_dir}',
                 f'--job-host={HOST}', f'--job-port={ports.job}',
                 f'--artifact-port={ports.artifact}', f'--expansion-port={ports.expansion}',
                 f'--artifacts-dir={os.path.join(cluster.state_dir, "artifacts")}'],
                dict(os.environ))
    return ([installation.worker_python, '-c', _WORKER_POOL, f'{HOST}:{ports.worker_pool}',
             installation.boot], _worker_environment(installation))


# Beam's SDK worker pool (worker_pool_main) listening on loopback only: its own main
# listens on every interface, and whoever reaches it can have workers booted that
# install what they are given. Run by the worker virtualenv's Python, which has Beam
# but not this project.
_WORKER_POOL = """
import sys
import grpc
from apache_beam.portability.api import beam_fn_api_pb2_grpc
from apache_beam.runners.worker.worker_pool_main import BeamFnExternalWorkerPoolServicer
from apache_beam.utils import thread_pool_executor
server = grpc.server(thread_pool_executor.shared_unbounded_instance(),
                     options=[('grpc.http2.max_pings_without_data', 0),
                              ('grpc.http2.max_ping_strikes', 0)])
server.add_insecure_port(sys.argv[1])
beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(
    BeamFnExternalWorkerPoolServicer(use_process=True, container_executable=sys.argv[2]),
    server)
server.start()
print('SDK worker pool listening on', sys.argv[1], flush=True)
server.wait_for_termination()
"""


def _alive(cluster: LocalCluster, process: str) -> Optional[int]:
    """The pid of the cluster's process if it is still the one started."""
    return local_processes.alive(cluster.pid_file(process))


def start_process(cluster: LocalCluster, process: str) -> int:
    """Starts one of the cluster's processes in a session of its own (its children, the
    SDK workers, go with it), its output in its log; records its pid."""
    argv, env = _command(cluster, process)
    return local_processes.start_recorded(argv, env, cluster.log_file(process),
                                          cluster.pid_file(process), cluster.state_dir)


def stop_process(cluster: LocalCluster, process: str, sig: int = signal.SIGTERM,
                 seconds: float = 20.0) -> bool:
    """Stops one of the cluster's processes and what is left of its session, its
    children too when it died itself (SIGKILL after `seconds`); False if nothing of
    it was running."""
    return local_processes.stop_recorded(cluster.pid_file(process), seconds, sig)


def overview(flink_master: str, timeout: float = 5.0) -> Dict[str, object]:
    """Flink's /overview (TaskManagers, slots, jobs); OSError if it does not answer."""
    with urllib.request.urlopen(f'http://{flink_master}/overview', timeout=timeout) as response:
        return json.load(response)


def _ready(cluster: LocalCluster) -> bool:
    ports = cluster.ports
    try:
        slots = overview(f'{HOST}:{ports.rest}', 2.0).get('slots-total', 0)
    except (OSError, ValueError):
        return False
    return (isinstance(slots, int) and slots >= TASK_SLOTS
            and all(local_processes.port_open(HOST, port)
                    for port in (ports.job, ports.artifact, ports.worker_pool)))


# A line of a log naming an exception or error, not a stack frame.
_PROBLEM = r'^(?!at |\.\.\.).*(Exception|Error)\b'


def wait_until_ready(cluster: LocalCluster, seconds: float = READY_SECONDS) -> None:
    """Waits until Flink has its slots and Beam's services answer; ProblemFound naming
    a process that died on the way (with its log's last lines), or the wait."""
    deadline = time.monotonic() + seconds
    while not _ready(cluster):
        for process in PROCESSES:
            if _alive(cluster, process) is None:
                log = cluster.log_file(process)
                raise ProblemFound(f'the Flink cluster\'s {process} exited while starting: '
                                   f'{local_processes.log_problem(log, _PROBLEM, 500)} '
                                   f'(log: {log})')
        if time.monotonic() > deadline:
            raise ProblemFound(f'the Flink cluster did not answer within {seconds:.0f} s '
                               f'(logs in {cluster.log_dir})')
        time.sleep(0.5)


def _refuse_taken_ports(cluster: LocalCluster) -> None:
    for name, port in dataclasses.asdict(cluster.ports).items():
        if local_processes.port_open(HOST, port):
            raise UsageError(f'port {port} on {HOST} ({name}) is in use by another program: '
                             'stop it, or choose other ports (see `python -m runner '
                             'flink-cluster start --help`)')


def running(cluster: LocalCluster) -> List[str]:
    """The cluster's processes that are running."""
    return [process for process in PROCESSES if _alive(cluster, process) is not None]


def start(cluster: LocalCluster, seconds: float = READY_SECONDS) -> bool:
    """Starts the cluster and waits until it answers; False if it was running already
    (a partly running one is stopped and started again). Stopped again if it fails."""
    if running(cluster) == list(PROCESSES) and _ready(cluster):
        return False
    stop(cluster)
    _refuse_taken_ports(cluster)
    _write_configuration(cluster)
    record_ports(cluster)
    try:
        for process in PROCESSES:
            start_process(cluster, process)
        wait_until_ready(cluster, seconds)
    except BaseException:
        stop(cluster)
        raise
    return True


def stop(cluster: LocalCluster) -> List[str]:
    """Stops whatever of the cluster runs, workers first; the processes it stopped."""
    return [process for process in reversed(PROCESSES) if stop_process(cluster, process)]


def local_cluster(cache: str, ports: Ports, state_dir: Optional[str] = None) -> LocalCluster:
    """The cluster `make flink` manages: its state (configuration, logs, pids) in the
    cache beside the installation, unless state_dir says elsewhere."""
    cache = os.path.abspath(cache)
    return LocalCluster(Installation(cache),
                        os.path.abspath(state_dir or os.path.join(cache, 'cluster')), ports)


def recorded_ports(cluster: LocalCluster) -> Optional[Ports]:
    """The ports the cluster was started on (start() records them), if it was."""
    try:
        with open(os.path.join(cluster.state_dir, 'ports.json')) as f:
            return Ports(**json.load(f))
    except (OSError, ValueError, TypeError):
        return None


def record_ports(cluster: LocalCluster) -> None:
    with open(os.path.join(cluster.state_dir, 'ports.json'), 'w') as f:
        json.dump(dataclasses.asdict(cluster.ports), f)


def describe(cluster: LocalCluster) -> str:
    """The cluster's addresses for people, and the command that runs the pipeline on it
    (naming whatever differs from the flink profile's defaults)."""
    found, defaults = addresses(cluster.ports), addresses(Ports())
    settings = [f'TAXI_{name.upper()}={value}' for name, value, default in (
        ('job_server', found.job_server, defaults.job_server),
        ('environment_config', found.worker_pool, defaults.worker_pool)) if value != default]
    flag = ('' if found.flink_master == defaults.flink_master
            else f' --flink-master {found.flink_master}')
    return (f'Flink {FLINK_VERSION} on {HOST}: 1 TaskManager, {TASK_SLOTS} slots\n'
            f'  Flink REST API and web UI   http://{found.flink_master}\n'
            f'  Beam job server             {found.job_server}\n'
            f'  Beam SDK worker pool        {found.worker_pool}\n'
            f'  logs                        {cluster.log_dir}\n'
            f'Run the pipeline on it: {" ".join(settings + ["python -m runner flink"])}{flag}')
