"""The pipeline's two typed inputs: what a run is asked to do (PipelineConfig:
names, paths, steps, thresholds, where it runs) and what the run works out for
itself before it starts (RunSetup: the code version, the staged schema and
input, Beam options sized to the data)."""

import dataclasses
import os
from typing import Any, Dict, Optional, Tuple

from pipeline.component_ids import TRAINING_PIPELINE
from pipeline.home import DEFAULT_HOME, Home
from pipeline.store_url import Store

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA_ROOT = os.path.join(REPO_ROOT, 'data', 'chicago_taxi')
DEFAULT_SCHEMA_FILE = os.path.join(REPO_ROOT, 'schema', 'schema.pbtxt')
SETUP_FILE = os.path.join(REPO_ROOT, 'setup.py')


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """What a run is asked to do; paths derive from `home` unless given."""

    home: str = DEFAULT_HOME
    pipeline_name: str = TRAINING_PIPELINE
    model_name: str = 'chicago_taxi'      # the served model: serving_model/<model_name>/
    data_root: str = DEFAULT_DATA_ROOT
    schema_file: str = DEFAULT_SCHEMA_FILE
    train_steps: int = 600
    # Eval batches per validation round (early stopping's measure): the whole eval split
    # of the taxi data (10 batches); beyond 200 batches, a seeded random sample of that
    # size (at 100x, ten rounds over all 500k examples cost more than training). None: all.
    eval_steps: Optional[int] = 200
    hparams: Dict[str, Any] = dataclasses.field(default_factory=dict)  # Trainer custom_config
    # Bit-exact training (TensorFlow's op determinism); off only to measure what it costs.
    deterministic: bool = True
    # A Tuner run of this many trials before the Trainer (0: none; the Trainer takes the
    # latest tuned hyperparameters on this home, else the defaults).
    tune_trials: int = 0
    # The cloud Tuner on Vertex AI: its custom_config, and trials run at once.
    vertex_tuning: Optional[Dict[str, Any]] = None
    tune_parallel_trials: int = 1
    min_auc: float = 0.9                      # Evaluator value threshold
    max_auc_drop: float = 0.01                # Evaluator change threshold vs. baseline
    # --setup_file names this project's packages for Beam workers; given it,
    # TFX also stops building a TFX sdist for every Beam component (1 s each).
    beam_pipeline_args: Tuple[str, ...] = (f'--setup_file={SETUP_FILE}',)
    enable_cache: bool = True
    # Where artifacts and pushed models go, if not under `home` (e.g. gs://BUCKET, or a
    # directory a team shares with its store).
    storage_root: Optional[str] = None
    # ML Metadata shared with a team (pipeline/store_url.py); None: SQLite in HOME/metadata.db.
    metadata: Optional[Store] = None
    # ML Metadata from this machine; off where the orchestrator keeps its own (Vertex).
    local_metadata: bool = True
    # Trainer as a Vertex AI training job: the extension Trainer's custom_config.
    vertex_training: Optional[Dict[str, Any]] = None
    # Also deploy blessed models to a Vertex AI endpoint: the extension Pusher's custom_config.
    vertex_serving: Optional[Dict[str, Any]] = None
    # Before Pusher: None for our server's canary (pipeline/canary.py), or 'docker' /
    # 'kubernetes' for TFX's InfraValidator running the tensorflow/serving image there.
    infra_validator: Optional[str] = None
    canary_examples: int = 200
    # Each Beam component's job named after its id (--job_name), as `runner flink`
    # submits them; off elsewhere (Dataflow takes lower-case job names only).
    name_beam_jobs: bool = False
    # Data arriving as data_root/span-<N>/*.csv: train on the latest `spans` of them
    # (None: every *.csv in data_root), warm-starting from the last blessed model.
    spans: Optional[int] = None

    @property
    def paths(self) -> Home:
        return Home(self.home, self.storage_root)

    @property
    def pipeline_root(self) -> str:
        return self.paths.pipeline_root(self.pipeline_name)

    @property
    def store(self) -> Store:
        """The ML Metadata store the run records into and commands read."""
        return self.metadata or Store.sqlite(self.paths.metadata_path)

    @property
    def serving_model_dir(self) -> str:
        """Pusher's base directory: TF Serving's <base>/<model>/<version>/ layout."""
        return self.paths.serving_model_dir(self.model_name)


@dataclasses.dataclass(frozen=True)
class RunSetup:
    """What a run works out before it starts, beside what it was asked (its
    PipelineConfig); both are recorded with the run. The defaults leave the
    config as it is."""

    # The code that builds and runs the pipeline (pipeline.manifest.code_version).
    code_version: Dict[str, Any] = dataclasses.field(default_factory=dict)
    # The curated schema as staged for the run (under a path named by its content).
    schema_file: Optional[str] = None
    # Where ExampleGen reads a window of several spans as one; None: data_root.
    staged_input: Optional[str] = None
    # Beam options added to the config's (the direct runner sized to the data).
    beam_pipeline_args: Tuple[str, ...] = ()

    def input_base(self, config: PipelineConfig) -> str:
        return self.staged_input or config.data_root

    def schema(self, config: PipelineConfig) -> str:
        return self.schema_file or config.schema_file

    def beam_args(self, config: PipelineConfig) -> Tuple[str, ...]:
        return config.beam_pipeline_args + self.beam_pipeline_args
