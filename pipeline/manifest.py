"""What a run was made from, recorded with the run; light enough for the CLI
(TFX is imported by pipeline/manifest_component.py, the component that
records it).

The RunManifest component (right after ExampleGen) writes one artifact whose
custom properties say it, so that ML Metadata holds it wherever the pipeline
runs (Vertex ML Metadata too), next to the run's other artifacts:

  user, host                    who started the run, on which machine (the
                                login name and host name)
  commit, dirty, code_changes   the git commit of the checkout that built the
                                pipeline, whether it had uncommitted changes
                                (and a sha256 of them); 'unknown' outside git
  image                         the container image it runs in, on Vertex AI
  lock_sha256                   sha256 of requirements.lock
  packages                      versions of tfx, tensorflow, apache-beam, TFT,
                                TFMA, TFDV where the pipeline ran (JSON)
  config                        the whole PipelineConfig: what was asked (JSON;
                                its store as a URL without the password)
  setup                         the RunSetup: the staged schema and input, the
                                Beam options it added (JSON)
  schema_sha256                 sha256 of the curated schema
  data_files, data_fingerprint  every input file ExampleGen read (path under
                                the input base, bytes, sha256; JSON) and a
                                sha256 over that list: the data's content,
                                where ExampleGen's own fingerprint holds mtimes

The results (metrics, blessings, push, model fingerprint) are properties of
the artifacts that carry them; pipeline/mlmd.py reads both into a RunRecord.
"""

import dataclasses
import getpass
import hashlib
import json
import os
import socket
import subprocess
from typing import Any, Dict, List

from pipeline.config import PipelineConfig, RunSetup
from pipeline.fingerprint import file_sha256
from pipeline.mlmd import (
    CODE_CHANGES,
    COMMIT,
    CONFIG,
    DIRTY,
    IMAGE,
    LOCK_SHA256,
    RUN_HOST,
    RUN_USER,
    SETUP,
    UNKNOWN,
)

PACKAGES = ('tfx', 'tensorflow', 'apache-beam', 'tensorflow-transform',
            'tensorflow-model-analysis', 'tensorflow-data-validation')
LOCK_FILE = 'requirements.lock'


def _git(repo_root: str, *args: str) -> str:
    return subprocess.run(['git', '-C', repo_root, *args], capture_output=True, check=True,
                          timeout=30).stdout.decode()


def code_version(repo_root: str, image: str = '') -> Dict[str, Any]:
    """The checkout's commit, dirty flag and a hash of its uncommitted changes
    (tracked diffs and the names of untracked files), and the lock's sha256."""
    lock = os.path.join(repo_root, LOCK_FILE)
    version = {COMMIT: UNKNOWN, DIRTY: False, CODE_CHANGES: '', IMAGE: image,
               LOCK_SHA256: file_sha256(lock) if os.path.exists(lock) else UNKNOWN}
    try:
        commit = _git(repo_root, 'rev-parse', 'HEAD').strip()
        status = _git(repo_root, 'status', '--porcelain')
        diff = _git(repo_root, 'diff', 'HEAD', '--binary')
    except (OSError, subprocess.SubprocessError):
        return version      # not a git checkout (or no git): the commit is unknown
    changes = hashlib.sha256((diff + status).encode()).hexdigest() if status else ''
    return {**version, COMMIT: commit, DIRTY: bool(status), CODE_CHANGES: changes}


def data_files(input_base: str, pattern: str) -> List[Dict[str, Any]]:
    """Every file matching pattern under input_base: relative path, bytes, sha256,
    and for a link (a staged window of spans) the file it links to."""
    import tensorflow as tf
    found = []
    for path in sorted(tf.io.gfile.glob(os.path.join(input_base, pattern))):
        entry = {'path': os.path.relpath(path, input_base),
                 'bytes': tf.io.gfile.stat(path).length, 'sha256': file_sha256(path)}
        if os.path.islink(path):
            entry['source'] = os.path.realpath(path)
        found.append(entry)
    return found


def files_fingerprint(files: List[Dict[str, Any]]) -> str:
    digest = hashlib.sha256()
    for entry in files:
        digest.update(f"{entry['path']}\0{entry['sha256']}\n".encode())
    return digest.hexdigest()


def package_versions() -> Dict[str, str]:
    from importlib import metadata
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = UNKNOWN
    return versions


def setup_record(setup: RunSetup) -> Dict[str, Any]:
    """The RunSetup as JSON values, without the code version (recorded at the top)."""
    values = dataclasses.asdict(setup)
    values.pop('code_version')
    return values


def origin() -> Dict[str, str]:
    """Who starts the run and where: the login name and the host name."""
    return {RUN_USER: getpass.getuser(), RUN_HOST: socket.gethostname()}


def config_record(config: PipelineConfig) -> Dict[str, Any]:
    """The PipelineConfig as JSON values, its store as a URL without the password."""
    values = dataclasses.asdict(config)
    values['metadata'] = config.metadata.url if config.metadata is not None else None
    return values


def manifest_parameters(config: PipelineConfig, setup: RunSetup) -> str:
    """What the pipeline definition knows of the run, for RunManifest (JSON)."""
    return json.dumps({**setup.code_version, **origin(), CONFIG: config_record(config),
                       SETUP: setup_record(setup)}, sort_keys=True)
