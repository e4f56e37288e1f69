"""create_training_pipeline: the TFX components and how they connect.

Only definitions here; runners decide where it runs (LocalDagRunner,
Dataflow, Vertex AI Pipelines). Imports avoid `tfx.v1`, which also loads the
Google Cloud extensions and costs seconds of start-up on every run.
"""

from typing import Any, Sequence

from tfx.components import ExampleValidator, StatisticsGen, Transform, Tuner
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.components.base.base_beam_component import BaseBeamComponent
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.latest_artifact_strategy import LatestArtifactStrategy
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy,
)
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import example_gen_pb2, pusher_pb2, range_config_pb2, trainer_pb2, tuner_pb2
from tfx.types import Channel
from tfx.types.standard_artifacts import HyperParameters, Model, ModelBlessing

from models.hparams import DETERMINISTIC_KEY, HPARAMS_KEY, TUNE_TRIALS_KEY
from pipeline import component_ids as ids
from pipeline.canary import ServingCanary
from pipeline.config import PipelineConfig, RunSetup
from pipeline.csv_example_gen import CsvExampleGen
from pipeline.evaluation import Evaluator, eval_config
from pipeline.manifest import manifest_parameters
from pipeline.manifest_component import RunManifest
from pipeline.mlmd import connection_config
from pipeline.pusher import Pusher
from pipeline.resolvers import LatestIfAnyStrategy
from pipeline.trainer_component import Trainer
from pipeline.validation_gate import ExampleValidationGate

PREPROCESSING_FN = 'models.preprocessing.preprocessing_fn'
RUN_FN = 'models.trainer.run_fn'
TUNER_FN = 'models.tuner.tuner_fn'
SERVING_IMAGE_TAG = '2.16.1'   # tensorflow/serving's release for TensorFlow 2.16
SPAN_PATTERN = 'span-{SPAN}/*.csv'


def infra_validator(platform: str, trainer, example_gen):
    """TFX's InfraValidator: the tensorflow/serving image (TensorFlow's version) on
    Docker or Kubernetes loads the candidate and answers sample requests."""
    from tfx.components import InfraValidator
    from tfx.proto import infra_validator_pb2 as iv

    serving_spec = iv.ServingSpec(
        tensorflow_serving=iv.TensorFlowServing(tags=[SERVING_IMAGE_TAG]),
        **({'local_docker': iv.LocalDockerConfig()} if platform == 'docker'
           else {'kubernetes': iv.KubernetesConfig()}))
    return InfraValidator(
        model=trainer.outputs['model'],
        examples=example_gen.outputs['examples'],
        serving_spec=serving_spec,
        request_spec=iv.RequestSpec(tensorflow_serving=iv.TensorFlowServingRequestSpec(),
                                    num_examples=20)).with_id(ids.INFRA_VALIDATOR)


def hyperparameter_search(config: PipelineConfig, transform, schema_gen):
    """(node, its best hyperparameters channel) for the Trainer: with tune_trials a
    Tuner (the cloud one with vertex_tuning, trials in parallel); without, a Resolver
    of the latest Tuner run's best hyperparameters on this ML Metadata (none: the
    Trainer's defaults). The search is paid once, not every run. Vertex compiles only
    TFX's own strategies (to artifact queries, empty when nothing matches)."""
    if not config.tune_trials:
        strategy = LatestIfAnyStrategy if config.local_metadata else LatestArtifactStrategy
        resolver = Resolver(strategy_class=strategy,
                            hyperparameters=Channel(type=HyperParameters),
                            ).with_id(ids.HYPERPARAMETERS_RESOLVER)
        return resolver, resolver.outputs['hyperparameters']
    tuner_class, custom_config, extra = Tuner, {TUNE_TRIALS_KEY: config.tune_trials}, {}
    if config.vertex_tuning:
        from tfx.extensions.google_cloud_ai_platform.tuner.component import Tuner as VertexTuner
        tuner_class = VertexTuner
        custom_config.update(config.vertex_tuning)
        extra['tune_args'] = tuner_pb2.TuneArgs(num_parallel_trials=config.tune_parallel_trials)
    tuner = tuner_class(
        tuner_fn=TUNER_FN, examples=transform.outputs['transformed_examples'],
        transform_graph=transform.outputs['transform_graph'], schema=schema_gen.outputs['schema'],
        train_args=trainer_pb2.TrainArgs(num_steps=config.train_steps),
        eval_args=trainer_pb2.EvalArgs(num_steps=config.eval_steps),
        custom_config=custom_config, **extra).with_id(ids.TUNER)
    return tuner, tuner.outputs['best_hyperparameters']


def name_beam_jobs(components: Sequence[Any]) -> None:
    """Each Beam component's jobs take its id for a name (`--job_name`, after the
    pipeline's own Beam options, so it wins), for runners that list jobs by name."""
    for component in components:
        if isinstance(component, BaseBeamComponent):
            component.with_beam_pipeline_args([f'--job_name={component.id}'])


def create_training_pipeline(config: PipelineConfig,
                             setup: RunSetup = RunSetup()) -> tfx_pipeline.Pipeline:
    """The whole lifecycle, from CSV to a pushed, blessed SavedModel: the run
    asked for by config, with what the run worked out before it started (setup)."""
    # With spans, the latest one (RollingRange takes one span: a window of several
    # is staged as one before the run, see RunSetup.staged_input).
    pattern = SPAN_PATTERN if config.spans else '*.csv'
    input_base = setup.input_base(config)
    example_gen = CsvExampleGen(
        input_base=input_base,
        input_config=example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(
            name='single_split', pattern=pattern)]),
        range_config=range_config_pb2.RangeConfig(
            rolling_range=range_config_pb2.RollingRange(num_spans=1))
        if config.spans else None).with_id(ids.EXAMPLE_GEN)
    statistics_gen = StatisticsGen(
        examples=example_gen.outputs['examples']).with_id(ids.STATISTICS_GEN)
    schema_gen = ImportSchemaGen(schema_file=setup.schema(config)).with_id(ids.SCHEMA_GEN)
    # What the run is made from: code, lock, packages, config, schema, data files.
    manifest = RunManifest(examples=example_gen.outputs['examples'],
                           schema=schema_gen.outputs['schema'],
                           recorded=manifest_parameters(config, setup), input_base=input_base,
                           pattern=pattern).with_id(ids.RUN_MANIFEST)
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs['statistics'],
        schema=schema_gen.outputs['schema']).with_id(ids.EXAMPLE_VALIDATOR)
    validation_gate = ExampleValidationGate(
        anomalies=example_validator.outputs['anomalies']).with_id(ids.VALIDATION_GATE)

    transform = Transform(
        examples=example_gen.outputs['examples'],
        schema=schema_gen.outputs['schema'],
        preprocessing_fn=PREPROCESSING_FN,
        # Measured on the taxi data: TF1 graph mode analyzes and transforms in
        # 7 s where TF2 mode takes 10 s (fewer traces and SavedModel writes);
        # the TF2 Trainer loads the graph the same way. Statistics of the
        # transformed data are left to StatisticsGen on the raw data.
        force_tf_compat_v1=True,
        disable_statistics=True,
        disable_analyzer_cache=True).with_id(ids.TRANSFORM)
    transform.add_upstream_node(validation_gate)

    # The last blessed model: the Evaluator's baseline and, with spans, the
    # Trainer's starting point.
    model_resolver = Resolver(
        strategy_class=LatestBlessedModelStrategy,
        model=Channel(type=Model),
        model_blessing=Channel(type=ModelBlessing),
    ).with_id(ids.BLESSED_MODEL_RESOLVER)

    search, hyperparameters = hyperparameter_search(config, transform, schema_gen)
    trainer_class = Trainer
    trainer_config = {HPARAMS_KEY: dict(config.hparams), DETERMINISTIC_KEY: config.deterministic}
    if config.vertex_training:
        from pipeline.vertex_trainer import Trainer as VertexTrainer
        trainer_class, trainer_config = VertexTrainer, {**config.vertex_training, **trainer_config}
    trainer = trainer_class(
        run_fn=RUN_FN,
        base_model=model_resolver.outputs['model'] if config.spans else None,
        examples=transform.outputs['transformed_examples'],
        transform_graph=transform.outputs['transform_graph'],
        schema=schema_gen.outputs['schema'],
        hyperparameters=hyperparameters,
        train_args=trainer_pb2.TrainArgs(num_steps=config.train_steps),
        eval_args=trainer_pb2.EvalArgs(num_steps=config.eval_steps),
        custom_config=trainer_config).with_id(ids.TRAINER)

    evaluator = Evaluator(
        examples=example_gen.outputs['examples'],
        model=trainer.outputs['model'],
        baseline_model=model_resolver.outputs['model'],
        eval_config=eval_config(config.min_auc, config.max_auc_drop)).with_id(ids.EVALUATOR)

    canary = (infra_validator(config.infra_validator, trainer, example_gen)
              if config.infra_validator else
              ServingCanary(model=trainer.outputs['model'],
                            model_blessing=evaluator.outputs['blessing'],
                            examples=example_gen.outputs['examples'],
                            sample_size=config.canary_examples).with_id(ids.SERVING_CANARY))

    infra_blessing = canary.outputs['blessing' if config.infra_validator else 'infra_blessing']
    pusher = Pusher(
        model=trainer.outputs['model'],
        model_blessing=evaluator.outputs['blessing'],
        infra_blessing=infra_blessing,
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(
                base_directory=config.serving_model_dir))).with_id(ids.PUSHER)
    components = [example_gen, manifest, statistics_gen, schema_gen, example_validator,
                  validation_gate, transform, search, trainer, model_resolver, evaluator, canary,
                  pusher]
    if config.vertex_serving:
        from tfx.extensions.google_cloud_ai_platform.pusher.component import Pusher as VertexPusher
        # The endpoint takes a model only once it is blessed and has passed its canary.
        components.append(VertexPusher(
            model=trainer.outputs['model'], model_blessing=evaluator.outputs['blessing'],
            infra_blessing=infra_blessing,
            custom_config=config.vertex_serving).with_id(ids.VERTEX_ENDPOINT_PUSHER))

    if config.name_beam_jobs:
        name_beam_jobs(components)
    return tfx_pipeline.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=components,
        enable_cache=config.enable_cache,
        metadata_connection_config=(
            connection_config(config.store) if config.local_metadata else None),
        beam_pipeline_args=list(setup.beam_args(config)))
