"""Start, stop or show (or only install) an Apache Flink cluster on this machine for `runner flink`
(what `make flink` and `make flink-stop` run): a JobManager and a TaskManager
(2 slots) on 127.0.0.1, Beam's job server and Beam's SDK worker pool. The first
start fetches Flink 1.19.3 (PyPI), Beam's Flink job server (Maven Central),
builds Beam's Python boot program (Go module proxy) and a virtualenv for the SDK
workers, all into a cache outside the repository (--cache). Start and stop are
safe to repeat: a running cluster is left as it is."""

import argparse
import dataclasses
import os

from common.exit_status import ExitStatus, UsageError
from operations import flink_cluster
from runner.command import Context
from runner.command import Plan as BasePlan

NAME = 'flink-cluster'
HELP = 'start, stop or show a Flink cluster on this machine (make flink)'
EXAMPLES = '''examples:
  python -m runner flink-cluster start               # then: python -m runner flink
  FLINK_REST_PORT=18081 python -m runner flink-cluster start
  python -m runner flink-cluster status
  python -m runner flink-cluster stop
  python -m runner flink-cluster install             # only fetch and build its parts
'''
ACTIONS = ('start', 'stop', 'status', 'install')
_PORT_FLAGS = {'rest': 'FLINK_REST_PORT', 'rpc': None, 'job': None, 'artifact': None,
               'expansion': None, 'worker_pool': None}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan(BasePlan):
    action: str
    cluster: flink_cluster.LocalCluster


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f'{value} is not a port (1-65535)')
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('action', choices=ACTIONS)
    parser.add_argument('--cache', default=flink_cluster.default_cache(),
                        help='where the parts and the cluster\'s state go (default: '
                             '$TAXI_CACHE_DIR/flink or ~/.cache/taxi-pipeline/flink)')
    parser.add_argument('--state', help="the cluster's configuration, logs and pids, for a "
                                        'cluster beside the usual one (default: CACHE/cluster)')
    defaults = flink_cluster.Ports()
    for name, variable in _PORT_FLAGS.items():
        default = getattr(defaults, name)
        parser.add_argument(f'--{name.replace("_", "-")}-port', dest=f'{name}_port', type=_port,
                            default=None,
                            help=f'default {default}' + (f' (or ${variable})' if variable else ''))


def _ports(args: argparse.Namespace) -> flink_cluster.Ports:
    ports = {}
    for name, variable in _PORT_FLAGS.items():
        value = getattr(args, f'{name}_port')
        if value is None and variable and os.environ.get(variable):
            try:
                value = _port(os.environ[variable])
            except (ValueError, argparse.ArgumentTypeError):
                raise UsageError(f'{variable}={os.environ[variable]} is not a port') from None
        if value is not None:
            ports[name] = value
    chosen = flink_cluster.Ports(**ports)
    values = dataclasses.astuple(chosen)
    if len(set(values)) < len(values):
        raise UsageError(f'two of the cluster\'s ports are the same: {chosen}')
    return chosen


def check(args: argparse.Namespace) -> Plan:
    if os.path.exists(args.cache) and not os.path.isdir(args.cache):
        raise UsageError(f'--cache {args.cache} is a file, not a directory')
    if args.state and os.path.exists(args.state) and not os.path.isdir(args.state):
        raise UsageError(f'--state {args.state} is a file, not a directory')
    return Plan(action=args.action,
                cluster=flink_cluster.local_cluster(args.cache, _ports(args), args.state))


def _describe(cluster: flink_cluster.LocalCluster) -> None:
    addresses = flink_cluster.addresses(cluster.ports)
    print(f'Flink {flink_cluster.FLINK_VERSION} on {flink_cluster.HOST}: 1 TaskManager, '
          f'{flink_cluster.TASK_SLOTS} slots\n'
          f'  Flink REST API and web UI   http://{addresses.flink_master}\n'
          f'  Beam job server             {addresses.job_server}\n'
          f'  Beam SDK worker pool        {addresses.worker_pool}\n'
          f'  logs                        {cluster.log_dir}')
    defaults = flink_cluster.addresses(flink_cluster.Ports())
    settings = [f'TAXI_{name.upper()}={value}' for name, value, default in (
        ('job_server', addresses.job_server, defaults.job_server),
        ('environment_config', addresses.worker_pool, defaults.worker_pool)) if value != default]
    flag = ('' if addresses.flink_master == defaults.flink_master
            else f' --flink-master {addresses.flink_master}')
    print(f'Run the pipeline on it: {" ".join(settings + ["python -m runner flink"])}{flag}')


def run(plan: Plan, context: Context) -> ExitStatus:
    cluster = plan.cluster
    if plan.action == 'install':
        flink_cluster.install(cluster.installation.root, context.progress.note)
        print(f'Installed in {cluster.installation.root}.')
    elif plan.action == 'start':
        os.makedirs(cluster.state_dir, exist_ok=True)
        flink_cluster.install(cluster.installation.root, context.progress.note)
        started = flink_cluster.start(cluster)
        print('Started.' if started else 'Already running.')
        _describe(cluster)
    elif plan.action == 'stop':
        stopped = flink_cluster.stop(cluster)
        print(f'Stopped: {", ".join(stopped)}.' if stopped
              else f'No Flink cluster was running (state in {cluster.state_dir}).')
    else:
        processes = flink_cluster.running(cluster)
        recorded = flink_cluster.recorded_ports(cluster)
        if not processes or recorded is None:
            print(f'No Flink cluster is running (state in {cluster.state_dir}).')
            return ExitStatus.PROBLEM
        print(f'Running: {", ".join(processes)}.')
        _describe(dataclasses.replace(cluster, ports=recorded))
    return ExitStatus.DONE
