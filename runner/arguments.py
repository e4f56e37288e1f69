"""Arguments several commands take, and the checks of what they name: each check
raises UsageError naming the flag, or returns what the flag stands for."""

import argparse
import dataclasses
import os
from typing import Any, Dict, Optional

from common.exit_status import UsageError
from common.tf_serving import is_url
from operations.cloud import named_profile
from operations.local_flink import Ports
from pipeline import mlmd, store_url
from pipeline.config import DEFAULT_DATA_ROOT, PipelineConfig
from pipeline.home import DEFAULT_HOME, Home
from pipeline.profiles import Profile


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


def _writable(path: str, flag: str = '--home') -> None:
    """UsageError unless path, or the directory it would be made in, can be written."""
    existing = path
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UsageError(f'{flag} {path}: {existing} is a file, not a directory')
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f'{flag} {path}: {existing} is not writable')


def _store(home: Home, metadata: Optional[store_url.Store]) -> store_url.Store:
    return metadata or store_url.Store.sqlite(home.metadata_path)


def home_for_writing(path: str, metadata: Optional[store_url.Store] = None) -> Home:
    """A home a run may create or write to, recording into its own ML Metadata or
    into `metadata`, a shared store, whose server must take a connection now."""
    home = Home(os.path.abspath(path))
    _writable(home.root)
    mlmd.refuse_unreadable(_store(home, metadata))
    return home


def home_with_runs(path: str, writing: bool = False,
                   metadata: Optional[store_url.Store] = None) -> Home:
    """A home whose ML Metadata (or `metadata`, a shared store) records earlier runs
    (else UsageError; a damaged store is DamagedMetadataError, naming it; a server
    that cannot be used, StoreFault), writable if the command writes to it."""
    home = Home(os.path.abspath(path))
    mlmd.check_store(_store(home, metadata))
    if writing:
        _writable(home.root)
    return home


METADATA_ENV, PIPELINE_ROOT_ENV = 'TAXI_METADATA_URL', 'TAXI_PIPELINE_ROOT'


def add_metadata(parser: argparse.ArgumentParser, pipeline_root: bool = True) -> None:
    """--metadata URL, a store a team shares, and --pipeline-root DIR, where its
    runs' artifacts and pushed models go: for every command that reads or writes
    ML Metadata (runs need both; readers find artifacts through the store)."""
    parser.add_argument(
        '--metadata', metavar='URL',
        help=f'ML Metadata shared by a team: {store_url.FORM} (password: PGPASSWORD or '
             f'~/.pgpass); default {METADATA_ENV}, else the local profile\'s metadata_url, '
             'else SQLite in the home')
    if pipeline_root:
        parser.add_argument(
            '--pipeline-root', metavar='DIR',
            help='artifacts and pushed models, in a directory the whole team can read (a '
                 f'run on a shared store needs one); default {PIPELINE_ROOT_ENV}, else the '
                 'local profile\'s pipeline_root, else the home')


def shared_store(url: str, flag: str) -> store_url.Store:
    """The PostgreSQL store a flag names; UsageError naming the flag and what is wrong."""
    try:
        return store_url.parse(url)
    except store_url.StoreURLError as error:
        raise UsageError(f'{flag} {error}') from None


def metadata_store(args: argparse.Namespace,
                   profile: Optional[Profile] = None) -> Optional[store_url.Store]:
    """The shared store a command uses, None for SQLite in the home: --metadata, else
    the profile's metadata_url (TAXI_METADATA_URL overrides it; the local profile
    unless the command names one)."""
    if getattr(args, 'metadata', None):
        return shared_store(args.metadata, '--metadata')
    url = (profile or named_profile('local')).metadata_url
    return store_url.parse(url) if url else None      # the profile checked it


def storage_root(args: argparse.Namespace, metadata: Optional[store_url.Store], writing: bool,
                 profile: Optional[Profile] = None) -> Optional[str]:
    """Where artifacts and pushed models go (None: the home): --pipeline-root, else
    the profile's pipeline_root (TAXI_PIPELINE_ROOT). A run on a shared store must
    have one, where the team can read what it records."""
    root = getattr(args, 'pipeline_root', None) or (profile or named_profile('local')).pipeline_root
    if not root:
        if writing and metadata is not None:
            raise UsageError(
                f'ML Metadata store {metadata} is shared: give --pipeline-root DIR (or '
                f'{PIPELINE_ROOT_ENV}), a directory the whole team can read, for the run\'s '
                'artifacts and pushed models')
        return None
    if is_url(root):
        return root
    root = os.path.abspath(root)
    if writing:
        _writable(root, '--pipeline-root')
    return root


def store_settings(args: argparse.Namespace, writing: bool = False,
                   profile: Optional[Profile] = None) -> Dict[str, Any]:
    """PipelineConfig's `metadata` and `storage_root` from --metadata and
    --pipeline-root (or the environment, or the profile: the local one unless given)."""
    metadata = metadata_store(args, profile)
    return {'metadata': metadata,
            'storage_root': storage_root(args, metadata, writing, profile)}


def config_with_runs(args: argparse.Namespace, writing: bool = False,
                     pushing: bool = False) -> PipelineConfig:
    """For a command that reads the runs (writing to --home if `writing`, pushing a
    model if `pushing`): their store, --home and the pipeline root, checked
    (home_with_runs, storage_root)."""
    settings = store_settings(args, writing=pushing)
    home = home_with_runs(args.home, writing, settings['metadata'])
    return PipelineConfig(home=home.root, **settings)


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
