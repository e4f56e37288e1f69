"""The command line: `python -m runner COMMAND` (or `taxi-pipeline COMMAND`).

  local         run the whole pipeline with LocalDagRunner on this machine
  dataflow      LocalDagRunner here, every Beam component on Dataflow
  vertex        compile for Vertex AI Pipelines / Kubeflow Pipelines v2, and submit
  monitor       served traffic vs training data (skew, drift) and server health
  watch         run the pipeline whenever a new span-<N>/ directory of data arrives
  batch-predict BulkInferrer with the latest blessed model on a directory of CSV files
  report        a static HTML report: data, model quality, serving drift, lineage
  scale-data    grow the taxi data N-fold (resampled, jittered) for scale tests
  draft-schema  regenerate a draft schema from the latest statistics
"""

import argparse
import dataclasses
import json
import os
import sys
import time
from typing import List, Optional

# Before TensorFlow is imported anywhere: the project uses Keras 2 (tf-keras)
# throughout, as TFT and TFMA do; see the README.
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '1')

from pipeline.config import DEFAULT_DATA_ROOT, PipelineConfig  # noqa: E402
from runner import progress  # noqa: E402

DEFAULT_HOME = 'tfx_home'


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='python -m runner', description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')

    local = commands.add_parser('local', help='run the pipeline with LocalDagRunner')
    local.add_argument('--home', default=DEFAULT_HOME,
                       help='ML Metadata, pipeline root, logs and pushed models (default: ./tfx_home)')
    local.add_argument('--data-root', default=DEFAULT_DATA_ROOT,
                       help='directory of CSV files (default: the embedded Chicago Taxi sample)')
    local.add_argument('--train-steps', type=int, default=PipelineConfig.train_steps,
                       help=f'training steps (default: {PipelineConfig.train_steps})')
    local.add_argument('--min-auc', type=float, default=PipelineConfig.min_auc,
                       help=f'AUC a model needs to be blessed and pushed (default: {PipelineConfig.min_auc})')
    local.add_argument('--spans', type=int, default=1,
                       help='with span-<N>/ directories in --data-root: train on the latest '
                            'N spans, warm-starting from the last blessed model (default 1)')
    local.add_argument('--direct-running-mode', default='auto',
                       choices=['auto', 'in_memory', 'multi_threading', 'multi_processing'],
                       help="Beam DirectRunner mode (default auto: in this process up to 64 MB "
                            "of input, else one worker process per core)")

    dataflow = commands.add_parser('dataflow', help='LocalDagRunner here, Beam on Dataflow')
    dataflow.add_argument('--profile', default='dataflow', help='in pipeline/profiles.yaml')
    dataflow.add_argument('--home', default=DEFAULT_HOME, help='ML Metadata and logs (local)')
    dataflow.add_argument('--train-steps', type=int, default=PipelineConfig.train_steps)

    vertex = commands.add_parser('vertex', help='compile for Vertex AI Pipelines and submit')
    vertex.add_argument('--profile', default='vertex', help='in pipeline/profiles.yaml')
    vertex.add_argument('--output', default='pipeline.json', help='PipelineJob JSON to write')
    vertex.add_argument('--train-steps', type=int, default=PipelineConfig.train_steps)
    submit = vertex.add_mutually_exclusive_group()
    submit.add_argument('--compile-only', action='store_true', help='write the JSON, do not submit')
    submit.add_argument('--submit', action='store_true', help='submit (the default)')

    monitor = commands.add_parser(
        'monitor', help='skew, drift and health of served traffic; exit 1 on anomalies')
    monitor.add_argument('--home', default=DEFAULT_HOME, help='the pipeline home to compare with')
    monitor.add_argument('--requests', help='request log: directory, filename prefix or glob '
                                            '(default: HOME/request_logs)')
    monitor.add_argument('--metrics-url', help="the server's Prometheus metrics, e.g. "
                                               'http://localhost:8501/monitoring/prometheus/metrics')
    monitor.add_argument('--model', default=PipelineConfig.model_name)
    monitor.add_argument('--windows', type=int, default=2, help='traffic windows for drift')
    monitor.add_argument('--min-examples', type=int, default=50)
    monitor.add_argument('--min-window-examples', type=int, default=1000,
                         help='smallest window the drift check runs on')
    monitor.add_argument('--max-error-rate', type=float, default=0.01)
    monitor.add_argument('--max-p99-ms', type=float, default=100.0)
    monitor.add_argument('--retrain', action='store_true',
                         help='on anomalies, run the pipeline on --data-root')
    monitor.add_argument('--data-root', default=DEFAULT_DATA_ROOT, help='data to retrain on')
    monitor.add_argument('--spans', type=int, default=1,
                         help='with span-<N>/ directories in --data-root: retrain on the latest N')

    watch = commands.add_parser('watch', help='run the pipeline when a new span-<N>/ arrives')
    watch.add_argument('--data-root', required=True, help='directory of span-<N>/ directories')
    watch.add_argument('--home', default=DEFAULT_HOME)
    watch.add_argument('--spans', type=int, default=1, help='spans to train on (default 1)')
    watch.add_argument('--train-steps', type=int, default=PipelineConfig.train_steps)
    watch.add_argument('--min-auc', type=float, default=PipelineConfig.min_auc)
    watch.add_argument('--interval', type=float, default=60, help='seconds between checks')
    watch.add_argument('--once', action='store_true', help='check once, run if new, exit')

    batch = commands.add_parser('batch-predict',
                                help='BulkInferrer with the latest blessed model on CSV files')
    batch.add_argument('--input', required=True, help='directory of CSV files to score')
    batch.add_argument('--output', required=True, help='directory for predictions.csv')
    batch.add_argument('--home', default=DEFAULT_HOME, help='the pipeline home with the model')

    report = commands.add_parser('report', help='static HTML: data, model, serving, lineage')
    report.add_argument('--home', default=DEFAULT_HOME)

    scale = commands.add_parser('scale-data', help='grow the taxi data N-fold for scale tests')
    scale.add_argument('--factor', type=int, required=True, help='e.g. 10 or 100')
    scale.add_argument('--output', required=True, help='directory for the CSV files')
    scale.add_argument('--seed', type=int, default=0)

    draft = commands.add_parser('draft-schema', help='SchemaGen on the latest statistics under --home')
    draft.add_argument('--home', default=DEFAULT_HOME)
    draft.add_argument('--output', default='schema/schema.draft.pbtxt',
                       help='where to write the draft (default: schema/schema.draft.pbtxt)')
    return parser


def _local(args) -> int:
    if not os.path.isdir(args.data_root):
        print(f'error: --data-root {args.data_root} is not a directory', file=sys.stderr)
        return 2
    if args.train_steps < 1:
        print('error: --train-steps must be at least 1', file=sys.stderr)
        return 2
    config = _local_config(args.home, args.data_root, args.spans, train_steps=args.train_steps,
                           min_auc=args.min_auc)
    if args.direct_running_mode != 'auto':
        from runner.local import direct_runner_args
        config = dataclasses.replace(config, beam_pipeline_args=config.beam_pipeline_args
                                     + direct_runner_args(config.data_root,
                                                          args.direct_running_mode))
    return _run(config)


def _local_config(home: str, data_root: str, spans: int, **settings) -> PipelineConfig:
    """A local run's config: on the latest `spans` spans when data_root holds span-<N>/
    directories, else on its CSV files."""
    from runner.spans import spans_in
    data_root = os.path.abspath(data_root)
    return PipelineConfig(home=os.path.abspath(home), data_root=data_root,
                          spans=spans if spans_in(data_root) else None, **settings)


def _profile(name: str):
    from pipeline.profiles import ProfileError, load_profile
    try:
        return load_profile(name)
    except ProfileError as error:
        print(f'error: {error}', file=sys.stderr)
        return None


def _dataflow(args) -> int:
    from runner.cloud import cloud_config
    profile = _profile(args.profile)
    if profile is None:
        return 2
    base = PipelineConfig(home=os.path.abspath(args.home), train_steps=args.train_steps)
    return _run(cloud_config(profile, base))


def _vertex(args) -> int:
    from runner import cloud, local
    profile = _profile(args.profile)
    if profile is None:
        return 2
    config = cloud.cloud_config(profile, PipelineConfig(train_steps=args.train_steps))
    schema, root = config.schema_file, config.storage_root
    config = dataclasses.replace(config, schema_file=local.staged_schema_path(schema, root))
    path = cloud.compile_vertex(config, profile, args.output)
    print(f'Pipeline written to {path}')
    if args.compile_only:
        return 0
    try:
        credentials = cloud.google_credentials()
    except cloud.NoCredentialsError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    local.stage_schema(schema, root)
    job = cloud.submit_vertex(path, config, profile, credentials)
    print(f'Submitted: {job}')
    return 0


def _tracked(log_path: str, work):
    """Runs work() printing one line per component, everything else to log_path.
    Returns (result, None), or (None, 1) after printing which component failed and why."""
    error = None
    with progress.quiet_logs(log_path) as tracker:
        try:
            result = work()
        except Exception as e:  # reported below, naming the component and the cause
            error = e
            tracker.fail()
    if error is None:
        return result, None
    failed = tracker.current or 'set-up'
    print(f'error: {failed} failed: {type(error).__name__}: {error}', file=sys.stderr)
    return None, 1


def _run(config: PipelineConfig) -> int:
    """Runs with LocalDagRunner, one progress line per component, logs to a file."""
    home = config.home
    log_path = os.path.join(home, 'logs', time.strftime('run-%Y%m%d-%H%M%S.log'))
    print(f'Pipeline {config.pipeline_name}, home {home}\nFull logs: {log_path}', flush=True)
    started = time.time()

    def work():
        from runner import local
        local.run(config)
    _, failed = _tracked(log_path, work)
    if failed:
        return failed
    outcome = 'see the pipeline root'
    if config.local_metadata:
        from runner import mlmd
        outcome = mlmd.push_outcome(mlmd.connect(config.metadata_path))
    print(f'Done in {time.time() - started:.1f} s: {outcome}.')
    return 0


def _monitor(args) -> int:
    from runner import monitor
    home = os.path.abspath(args.home)
    paths = monitor.request_log_paths(args.requests or os.path.join(home, monitor.REQUEST_LOG_DIR))
    examples = monitor.served_examples(paths)
    if len(examples) < args.min_examples:
        print(f'error: {len(examples)} served examples in {len(paths)} request log files; '
              f'need at least {args.min_examples}', file=sys.stderr)
        return 2
    try:
        training, schema = monitor.training_inputs(PipelineConfig(home=home).metadata_path)
    except LookupError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    windows = monitor.split_windows(examples, args.windows)
    report = {'examples': len(examples), 'request_log_files': len(paths),
              **monitor.check_data(training, schema, windows, args.min_window_examples)}
    if args.metrics_url:
        report['health'] = monitor.serving_health(monitor.fetch(args.metrics_url), args.model)
        report['health_problems'] = monitor.check_health(report['health'], args.max_error_rate,
                                                         args.max_p99_ms)
    path = monitor.write_report(report, os.path.join(home, 'monitoring'))
    problems = {key: report[key] for key in ('skew', 'drift', 'data', 'health_problems')
                if report.get(key)}
    print(f'Served examples: {len(examples)} from {len(paths)} request log files, '
          f'{len(windows)} windows')
    for key in ('skew', 'drift', 'drift_skipped', 'data', 'health_problems'):
        if key in report:
            print(f'{key}: ' + (json.dumps(report[key]) if report[key] else 'none'))
    if 'health' in report:
        health = report['health']
        print(f"health: {health['requests']:.0f} requests, error rate {health['error_rate']:.2%}, "
              f"p50 {health['p50_ms']} ms, p99 {health['p99_ms']} ms")
    print(f'Report: {path}')
    if not problems:
        return 0
    if args.retrain:
        print('Anomalies found: retraining', flush=True)
        return _run(_local_config(home, args.data_root, args.spans))
    return 1


def _watch(args) -> int:
    from runner.spans import new_span
    config = PipelineConfig(home=os.path.abspath(args.home),
                            data_root=os.path.abspath(args.data_root), spans=args.spans,
                            train_steps=args.train_steps, min_auc=args.min_auc)
    while True:
        span = new_span(config.data_root, config.metadata_path, config.pipeline_root)
        if span is not None:
            print(f'New span {span} in {config.data_root}: running the pipeline', flush=True)
            code = _run(config)
            if args.once or code != 0:
                return code
        elif args.once:
            print(f'No new span in {config.data_root}')
            return 0
        time.sleep(args.interval)


def _batch_predict(args) -> int:
    if not os.path.isdir(args.input):
        print(f'error: --input {args.input} is not a directory', file=sys.stderr)
        return 2
    home = os.path.abspath(args.home)
    config = PipelineConfig(home=home)
    log_path = os.path.join(home, 'logs', time.strftime('batch-%Y%m%d-%H%M%S.log'))
    print(f'Batch inference, home {home}\nFull logs: {log_path}', flush=True)

    def work():
        from runner.batch import run_batch
        return run_batch(config, os.path.abspath(args.input), os.path.abspath(args.output))
    path, failed = _tracked(log_path, work)
    if failed:
        return failed
    print(f'Predictions: {path}')
    return 0


def _report(args) -> int:
    from runner.report import write_report
    config = PipelineConfig(home=os.path.abspath(args.home))
    if not os.path.exists(config.metadata_path):
        print(f'error: no ML Metadata at {config.metadata_path}: run the pipeline first',
              file=sys.stderr)
        return 1
    print(f'Report: {write_report(config.home, config.pipeline_root)}')
    return 0


def _scale_data(args) -> int:
    from runner.scale_data import write_scaled
    if args.factor < 1:
        print('error: --factor must be at least 1', file=sys.stderr)
        return 2
    paths = write_scaled(os.path.join(DEFAULT_DATA_ROOT, 'data.csv'), args.factor, args.output,
                         args.seed)
    print(f'{len(paths)} files in {args.output}')
    return 0


def _draft_schema(args) -> int:
    from runner.schema_draft import draft_schema
    home = os.path.abspath(args.home)
    try:
        path = draft_schema(PipelineConfig(home=home).metadata_path, args.output)
    except (FileNotFoundError, LookupError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    print(f'Draft schema written to {path}; compare it with schema/schema.pbtxt.')
    return 0


def entry_point() -> None:
    """`python -m runner` and the console script: main(), then an immediate exit.

    With TensorFlow, Beam and TFX loaded, the interpreter's own teardown takes
    1.5-2 s (measured) after everything is written and closed; os._exit skips it."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    commands = {'local': _local, 'dataflow': _dataflow, 'vertex': _vertex, 'monitor': _monitor,
                'watch': _watch, 'batch-predict': _batch_predict, 'report': _report,
                'scale-data': _scale_data,
                'draft-schema': _draft_schema}
    return commands[args.command](args)
