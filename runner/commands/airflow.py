"""Start, stop or show Apache Airflow on this machine with the pipeline's DAGs (what
`make airflow` and `make airflow-stop` run): the training pipeline as a DAG of
its TFX components (dag id: the pipeline's name), a DAG that triggers it for a
new span-<N>/ of data, and serving monitoring whose findings trigger it. The
scheduler and the webserver run on 127.0.0.1; the webserver's REST API
(/api/v1/) takes HTTP basic auth with the admin whose password the first start
generates. Airflow's own database is a database `airflow` on the `make store`
server when that runs (LocalExecutor), else SQLite (SequentialExecutor). `start`
ends with four lines for scripts: AIRFLOW_HOME, AIRFLOW_URL, AIRFLOW_USER,
AIRFLOW_PASSWORD. Start and stop are safe to repeat."""

import argparse
import dataclasses
import os
from typing import Optional

from common.exit_status import ExitStatus, UsageError
from operations import cloud, local_airflow, on_airflow
from pipeline import airflow_dags, profiles
from pipeline.airflow_dags import MONITORING_SUFFIX, SPAN_SUFFIX
from pipeline.config import PipelineConfig
from pipeline.store_url import Store
from runner import arguments
from runner.command import Context
from runner.command import Plan as BasePlan

NAME = 'airflow'
HELP = 'start, stop or show Apache Airflow with the pipeline\'s DAGs (make airflow)'
EXAMPLES = '''examples:
  python -m runner airflow start                    # prints AIRFLOW_URL, _USER, _PASSWORD
  python -m runner airflow start --metadata $TAXI_METADATA_URL --pipeline-root /shared/taxi
  python -m runner airflow start --data-root /data/spans --spans 3 --requests /logs/requests
  TAXI_SCHEDULE=none python -m runner airflow start  # training only when triggered
  python -m runner airflow status
  python -m runner airflow stop
'''


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan(BasePlan):
    action: str
    airflow: local_airflow.LocalAirflow
    settings: Optional[on_airflow.DagSettings] = None     # start
    # start: --database's server (None: the make store server when it runs, else
    # SQLite), worked out when it starts (the database made then), unless it runs.
    database: Optional[Store] = None
    resolve_database: bool = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('action', choices=('start', 'stop', 'status', 'install'))
    parser.add_argument('--cache', default=local_airflow.default_cache(),
                        help="Airflow's virtualenv, and its home unless --airflow-home "
                             '(default: $TAXI_CACHE_DIR/airflow or ~/.cache/taxi-pipeline/airflow)')
    parser.add_argument('--airflow-home', help='AIRFLOW_HOME: configuration, logs, pids '
                                               '(default: CACHE/home)')
    parser.add_argument('--port', type=arguments.port,
                        help=f'the webserver\'s (default {local_airflow.DEFAULT_PORT}, or the '
                             'one it runs on)')
    parser.add_argument('--database', metavar='URL',
                        help="Airflow's own database, postgresql://USER@HOST:PORT/DATABASE "
                             "(default: `airflow` on the make store server when it runs, "
                             'else SQLite in AIRFLOW_HOME)')
    arguments.add_home(parser, 'the home of the DAGs\' runs: logs, lock, and ML Metadata '
                               'and artifacts unless --metadata and --pipeline-root')
    arguments.add_metadata(parser)
    arguments.add_data_root(parser)
    arguments.add_spans(parser)
    arguments.add_training(parser)
    parser.add_argument('--requests', help="monitoring's request log (default: "
                                           'HOME/request_logs)')
    parser.add_argument('--metrics-url', help="the model server's Prometheus metrics, for "
                                              "monitoring's health check")
    parser.add_argument('--min-examples', type=arguments.positive_int, default=50,
                        help='fewest served examples monitoring judges (default 50)')


def check(args: argparse.Namespace) -> Plan:
    if os.path.exists(args.cache) and not os.path.isdir(args.cache):
        raise UsageError(f'--cache {args.cache} is a file, not a directory')
    home = os.path.abspath(args.airflow_home or os.path.join(args.cache, 'home'))
    installation = local_airflow.Installation(os.path.abspath(args.cache))
    airflow = local_airflow.LocalAirflow(
        installation, home, local_airflow.recorded_port(home) or local_airflow.DEFAULT_PORT)
    if args.action != 'start':
        return Plan(action=args.action, airflow=airflow)
    database = arguments.shared_store(args.database, '--database') if args.database else None
    running = local_airflow.as_running(installation, home)
    if running is not None:
        local_airflow.refuse_other_settings(running, args.port, database)
        airflow = running
    else:
        airflow = dataclasses.replace(airflow, port=args.port or local_airflow.DEFAULT_PORT)
    profile = cloud.named_profile('airflow')
    store = arguments.store_settings(args, writing=True, profile=profile)
    local_airflow.refuse_passwords(database, store['metadata'])
    runs_home = arguments.home_for_writing(args.home, store['metadata'])
    settings = on_airflow.DagSettings(
        home=runs_home.root, data_root=arguments.data_root(args.data_root), spans=args.spans,
        train_steps=args.train_steps, min_auc=args.min_auc,
        metadata_url=str(store['metadata'] or ''), storage_root=store['storage_root'] or '',
        training_schedule=profiles.schedule(profile.schedule),
        monitoring_schedule=profiles.schedule(profile.monitoring_schedule),
        span_check_seconds=profile.span_check_seconds, retries=profile.retries,
        retry_delay_seconds=profile.retry_delay_seconds,
        max_retry_delay_seconds=profile.max_retry_delay_seconds,
        lock_wait_seconds=profile.lock_wait_seconds,
        task_timeout_seconds=profile.task_timeout_seconds,
        requests=os.path.abspath(args.requests) if args.requests else '',
        metrics_url=args.metrics_url or '', min_examples=args.min_examples)
    return Plan(action='start', airflow=airflow, settings=settings, database=database,
                resolve_database=running is None)


def run(plan: Plan, context: Context) -> ExitStatus:
    airflow = plan.airflow
    if plan.action == 'install':
        local_airflow.install(airflow.installation.root, context.progress.note)
        print(f'Installed Airflow {local_airflow.AIRFLOW_VERSION} in '
              f'{airflow.installation.venv}.')
    elif plan.action == 'start':
        assert plan.settings is not None     # check() made them
        if plan.resolve_database:
            airflow = dataclasses.replace(airflow,
                                          database=local_airflow.database_url(plan.database))
        local_airflow.install(airflow.installation.root, context.progress.note,
                              in_use=bool(local_airflow.running(airflow)))
        os.makedirs(airflow.home, exist_ok=True)
        context.progress.note('Compiling the training pipeline for its DAG')
        config: PipelineConfig = plan.settings.config()
        settings = dataclasses.replace(plan.settings, nodes=on_airflow.pipeline_nodes(config))
        on_airflow.write_settings(settings, airflow.home)
        name = config.pipeline_name
        first = local_airflow.password(airflow) is None
        started = local_airflow.start(airflow, [name, name + SPAN_SUFFIX,
                                                name + MONITORING_SUFFIX],
                                      pools=airflow_dags.pools(settings.schedules))
        print(f'{"Started" if started else "Already running:"} Airflow '
              f'{local_airflow.AIRFLOW_VERSION} ({airflow.executor}), DAGs {name}, '
              f'{name}{SPAN_SUFFIX}, {name}{MONITORING_SUFFIX}')
        if first:
            print(f'The admin\'s password was generated now; it is kept in '
                  f'{airflow.password_file} (only you can read it).')
        print(f'AIRFLOW_HOME={airflow.home}')
        print(f'AIRFLOW_URL={airflow.url}')
        print(f'AIRFLOW_USER={local_airflow.ADMIN}')
        print(f'AIRFLOW_PASSWORD={local_airflow.password(airflow)}')
    elif plan.action == 'stop':
        stopped = local_airflow.stop(airflow)
        print(f'Stopped: {", ".join(stopped)}.' if stopped
              else f'No Airflow was running (home {airflow.home}).')
    else:
        processes = local_airflow.running(airflow)
        if not processes:
            print(f'No Airflow is running (home {airflow.home}).')
            return ExitStatus.PROBLEM
        print(f'Running: {", ".join(processes)}; {airflow.url} (home {airflow.home}).')
    return ExitStatus.DONE
