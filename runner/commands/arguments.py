"""Arguments several commands take, and the checks of what they name."""

import argparse
import os

from pipeline.config import DEFAULT_DATA_ROOT, PipelineConfig
from pipeline.home import DEFAULT_HOME, Home
from runner.errors import UsageError


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be at least 1, not {value}')
    return value


def add_home(parser, what: str = 'ML Metadata, pipeline root, logs and pushed models') -> None:
    parser.add_argument('--home', default=DEFAULT_HOME, help=f'{what} (default: ./{DEFAULT_HOME})')


def add_data_root(parser, required: bool = False) -> None:
    parser.add_argument(
        '--data-root', required=required, default=None if required else DEFAULT_DATA_ROOT,
        help='directory of CSV files with the taxi columns, or of span-<N>/ directories of '
             'them' + ('' if required else ' (default: the embedded Chicago Taxi sample)'))


def add_training(parser) -> None:
    """--train-steps and --min-auc, as `local` takes them."""
    parser.add_argument('--train-steps', type=positive_int, default=PipelineConfig.train_steps,
                        help=f'training steps (default: {PipelineConfig.train_steps})')
    parser.add_argument('--min-auc', type=float, default=PipelineConfig.min_auc,
                        help='AUC a model needs to be blessed and pushed '
                             f'(default: {PipelineConfig.min_auc})')


def add_spans(parser) -> None:
    parser.add_argument('--spans', type=positive_int, default=1,
                        help='with span-<N>/ directories in --data-root: train on the latest '
                             'N spans, warm-starting from the last blessed model (default 1)')


def data_root(path: str) -> str:
    if not os.path.isdir(path):
        raise UsageError(f'--data-root {path} is not a directory')
    return os.path.abspath(path)


def home_for_writing(path: str) -> Home:
    """A home a run may create or write to."""
    path = os.path.abspath(path)
    existing = path
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UsageError(f'--home {path}: {existing} is a file, not a directory')
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f'--home {path}: {existing} is not writable')
    return Home(path)


def home_with_runs(path: str) -> Home:
    """A home that holds ML Metadata from earlier runs."""
    home = Home(os.path.abspath(path))
    if not os.path.isfile(home.metadata_path):
        raise UsageError(f'no ML Metadata at {home.metadata_path}: run '
                         f'`python -m runner local --home {path}` first')
    return home


DEFAULT_TUNE_TRIALS = 10


def tuning(args) -> None:
    """--tune-trials goes with --tune; sets args.tune_trials to the trials to run (0: none)."""
    if args.tune_trials is not None and not args.tune:
        raise UsageError('--tune-trials needs --tune')
    args.tune_trials = (args.tune_trials or DEFAULT_TUNE_TRIALS) if args.tune else 0
