"""What lives under a pipeline home (`--home`, ./tfx_home by default), by name.

    metadata.db                        ML Metadata (SQLite)
    pipelines/<pipeline>/...           the pipeline root: every component's outputs
    serving_model/<model>/<version>/   pushed SavedModels in TF Serving's layout
    schema/<content hash>/schema.pbtxt the curated schema as staged for a run
    logs/<command>-<time>.log          full logs of each command
    monitoring/                        the monitor's reports (latest.json)
    report/index.html                  the HTML report
    request_logs/                      the model server's request logs, by default
    inputs/spans-<first>-<last>/       a window of several spans, staged as one span
    reproductions/<time>/              homes of `runner reproduce`, by default
    .lock                              held by the run under way (runner/home_lock.py)

Artifacts and pushed models go under `storage_root` instead when one is set
(gs://BUCKET for Dataflow and Vertex AI, or a directory a team shares); logs
stay here, and ML Metadata too unless the team shares a store (pipeline/store_url.py).
"""

import dataclasses
import os
from typing import Optional

METADATA_DB = 'metadata.db'
PIPELINES = 'pipelines'
SERVING_MODEL = 'serving_model'
SCHEMA = 'schema'
LOGS = 'logs'
MONITORING = 'monitoring'
REPORT = 'report'
REQUEST_LOGS = 'request_logs'
INPUTS = 'inputs'
REPRODUCTIONS = 'reproductions'

DEFAULT_HOME = 'tfx_home'


@dataclasses.dataclass(frozen=True)
class Home:
    """Paths under one pipeline home."""

    root: str
    storage_root: Optional[str] = None

    def _stored(self, *parts: str) -> str:
        return os.path.join(self.storage_root or self.root, *parts)

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.root, METADATA_DB)

    def pipeline_root(self, pipeline_name: str) -> str:
        return self._stored(PIPELINES, pipeline_name)

    def serving_model_dir(self, model_name: str) -> str:
        """Pusher's base directory: TF Serving's <base>/<model>/<version>/ layout."""
        return self._stored(SERVING_MODEL, model_name)

    @property
    def schema_dir(self) -> str:
        return self._stored(SCHEMA)

    @property
    def logs_dir(self) -> str:
        return os.path.join(self.root, LOGS)

    @property
    def monitoring_dir(self) -> str:
        return os.path.join(self.root, MONITORING)

    @property
    def report_dir(self) -> str:
        return os.path.join(self.root, REPORT)

    @property
    def request_logs_dir(self) -> str:
        return os.path.join(self.root, REQUEST_LOGS)

    @property
    def inputs_dir(self) -> str:
        return os.path.join(self.root, INPUTS)

    @property
    def reproductions_dir(self) -> str:
        return os.path.join(self.root, REPRODUCTIONS)
