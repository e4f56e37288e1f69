"""Command line: `python -m runner local [--home DIR] [--data-root DIR] [--train-steps N]`."""

import argparse
import os
import sys
import time
from typing import List, Optional

# TF_USE_LEGACY_KERAS must be set before TensorFlow is imported: the project
# uses Keras 2 (tf-keras) throughout; see the README.
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '1')

from pipeline.config import DEFAULT_DATA_ROOT, PipelineConfig  # noqa: E402
from runner import progress  # noqa: E402


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='python -m runner', description=__doc__)
    commands = parser.add_subparsers(dest='command', required=True)
    local = commands.add_parser('local', help='run the pipeline with LocalDagRunner')
    local.add_argument('--home', default='tfx_home',
                       help='MLMD, pipeline root, logs and pushed models (default: ./tfx_home)')
    local.add_argument('--data-root', default=DEFAULT_DATA_ROOT,
                       help='directory of CSV files (default: the embedded Chicago Taxi data)')
    local.add_argument('--train-steps', type=int, default=PipelineConfig.train_steps,
                       help=f'training steps (default: {PipelineConfig.train_steps})')
    return parser


def _local(args) -> int:
    home = os.path.abspath(args.home)
    if not os.path.isdir(args.data_root):
        print(f'error: --data-root {args.data_root} is not a directory', file=sys.stderr)
        return 2
    config = PipelineConfig(home=home, data_root=os.path.abspath(args.data_root),
                            train_steps=args.train_steps)
    log_path = os.path.join(home, 'logs', time.strftime('run-%Y%m%d-%H%M%S.log'))
    print(f'Pipeline {config.pipeline_name}: home {home}\nFull logs: {log_path}')
    started = time.time()
    error = None
    with progress.quiet_logs(log_path) as tracker:
        try:
            from runner import local
            local.run(config)
        except Exception as e:  # reported below, naming the component and the cause
            error = e
            tracker.fail()
    if error is not None:
        failed = tracker.current or 'pipeline set-up'
        print(f'error: {failed} failed: {type(error).__name__}: {error}', file=sys.stderr)
        return 1
    print(f'Done in {time.time() - started:.1f} s. Models: {config.serving_model_dir}')
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    return {'local': _local}[args.command](args)
