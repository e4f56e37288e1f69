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
from operations import local_flink
from runner import arguments
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


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan(BasePlan):
    action: str
    cluster: local_flink.LocalCluster


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('action', choices=('start', 'stop', 'status', 'install'))
    parser.add_argument('--cache', default=local_flink.default_cache(),
                        help='where the parts and the cluster\'s state go (default: '
                             '$TAXI_CACHE_DIR/flink or ~/.cache/taxi-pipeline/flink)')
    parser.add_argument('--state', help="the cluster's configuration, logs and pids, for a "
                                        'cluster beside the usual one (default: CACHE/cluster)')
    arguments.add_cluster_ports(parser)


def check(args: argparse.Namespace) -> Plan:
    if os.path.exists(args.cache) and not os.path.isdir(args.cache):
        raise UsageError(f'--cache {args.cache} is a file, not a directory')
    if args.state and os.path.exists(args.state) and not os.path.isdir(args.state):
        raise UsageError(f'--state {args.state} is a file, not a directory')
    return Plan(action=args.action,
                cluster=local_flink.local_cluster(args.cache, arguments.cluster_ports(args),
                                                      args.state))


def run(plan: Plan, context: Context) -> ExitStatus:
    cluster = plan.cluster
    if plan.action == 'install':
        local_flink.install(cluster.installation.root, context.progress.note)
        print(f'Installed in {cluster.installation.root}.')
    elif plan.action == 'start':
        os.makedirs(cluster.state_dir, exist_ok=True)
        local_flink.install(cluster.installation.root, context.progress.note)
        started = local_flink.start(cluster)
        print('Started.' if started else 'Already running.')
        print(local_flink.describe(cluster))
    elif plan.action == 'stop':
        stopped = local_flink.stop(cluster)
        print(f'Stopped: {", ".join(stopped)}.' if stopped
              else f'No Flink cluster was running (state in {cluster.state_dir}).')
    else:
        processes = local_flink.running(cluster)
        recorded = local_flink.recorded_ports(cluster)
        if not processes or recorded is None:
            print(f'No Flink cluster is running (state in {cluster.state_dir}).')
            return ExitStatus.PROBLEM
        print(f'Running: {", ".join(processes)}.')
        print(local_flink.describe(dataclasses.replace(cluster, ports=recorded)))
    return ExitStatus.DONE
