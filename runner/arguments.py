"""Arguments several commands take, and the checks of what they name: each check
raises UsageError naming the flag, or returns what the flag stands for."""

import argparse
import dataclasses
import os
from typing import Optional

from common.exit_status import UsageError
from operations.local_flink import Ports
from pipeline import mlmd
from pipeline.config import DEFAULT_DATA_ROOT, PipelineConfig
from pipeline.home import DEFAULT_HOME, Home


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be at least 1, not {value}')
    return value


def add_home(parser: argparse.ArgumentParser,
             what: str = 'ML Metadata, pipeline root, logs and pushed models') -> None:
    parser.add_argument('--home', default=DEFAULT_HOME, help=f'{what} (default: ./{DEFAULT_HOME})')


def add_data_root(parser: argparse.ArgumentParser, required: bool = False) -> None:
    parser.add_argument(
        '--data-root', required=required, default=None if required else DEFAULT_DATA_ROOT,
        help='directory of CSV files with the taxi columns, or of span-<N>/ directories of '
             'them' + ('' if required else ' (default: the embedded Chicago Taxi sample)'))


def add_training(parser: argparse.ArgumentParser) -> None:
    """--train-steps and --min-auc, as `local` takes them."""
    parser.add_argument('--train-steps', type=positive_int, default=PipelineConfig.train_steps,
                        help=f'training steps (default: {PipelineConfig.train_steps})')
    parser.add_argument('--min-auc', type=float, default=PipelineConfig.min_auc,
                        help='AUC a model needs to be blessed and pushed '
                             f'(default: {PipelineConfig.min_auc})')


def add_spans(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--spans', type=positive_int, default=1,
                        help='with span-<N>/ directories in --data-root: train on the latest '
                             'N spans, warm-starting from the last blessed model (default 1)')


def data_root(path: str) -> str:
    if not os.path.isdir(path):
        raise UsageError(f'--data-root {path} is not a directory')
    return os.path.abspath(path)


def _writable(path: str) -> None:
    """UsageError unless path, or the directory it would be made in, can be written."""
    existing = path
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UsageError(f'--home {path}: {existing} is a file, not a directory')
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f'--home {path}: {existing} is not writable')


def home_for_writing(path: str) -> Home:
    """A home a run may create or write to."""
    home = Home(os.path.abspath(path))
    _writable(home.root)
    mlmd.refuse_unreadable(home.metadata_path)
    return home


def home_with_runs(path: str, writing: bool = False) -> Home:
    """A home whose ML Metadata records earlier runs (else UsageError; a damaged
    store is DamagedMetadataError, naming it), writable if the command writes to it."""
    home = Home(os.path.abspath(path))
    mlmd.check_store(home.metadata_path)
    if writing:
        _writable(home.root)
    return home


DEFAULT_TUNE_TRIALS = 10


def add_tuning(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument('--tune', action='store_true', help=what)
    parser.add_argument('--tune-trials', type=positive_int,
                        help=f'trials of the search (default {DEFAULT_TUNE_TRIALS}; needs --tune)')


def tune_trials(tune: bool, trials: Optional[int]) -> int:
    """The Tuner's trials to run (0: no Tuner); --tune-trials goes with --tune."""
    if trials is not None and not tune:
        raise UsageError('--tune-trials needs --tune')
    return (trials or DEFAULT_TUNE_TRIALS) if tune else 0


# The local Flink cluster's ports: a flag each, the REST port also from $FLINK_REST_PORT.
_CLUSTER_PORT_VARIABLES = {'rest': 'FLINK_REST_PORT'}


def port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f'{value} is not a port (1-65535)')
    return value


def add_cluster_ports(parser: argparse.ArgumentParser) -> None:
    """--rest-port, --rpc-port, ... for local_flink.Ports' fields, with its defaults."""
    for field in dataclasses.fields(Ports):
        variable = _CLUSTER_PORT_VARIABLES.get(field.name)
        parser.add_argument(f'--{field.name.replace("_", "-")}-port', dest=f'{field.name}_port',
                            type=port, help=f'default {field.default}'
                            + (f' (or ${variable})' if variable else ''))


def cluster_ports(args: argparse.Namespace) -> Ports:
    """The local_flink.Ports the flags (and $FLINK_REST_PORT) ask for; UsageError when
    two are the same or the variable is not a port."""
    chosen = {}
    for field in dataclasses.fields(Ports):
        value = getattr(args, f'{field.name}_port')
        variable = _CLUSTER_PORT_VARIABLES.get(field.name)
        if value is None and variable and os.environ.get(variable):
            try:
                value = port(os.environ[variable])
            except (ValueError, argparse.ArgumentTypeError):
                raise UsageError(f'{variable}={os.environ[variable]} is not a port') from None
        if value is not None:
            chosen[field.name] = value
    ports = Ports(**chosen)
    values = dataclasses.astuple(ports)
    if len(set(values)) < len(values):
        raise UsageError(f"two of the cluster's ports are the same: {ports}")
    return ports
