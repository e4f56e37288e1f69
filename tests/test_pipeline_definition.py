"""Every DAG wires its components as documented, without running anything."""

from pipeline.config import PipelineConfig, RunSetup
from pipeline.evaluation import SLICE_FEATURES
from pipeline.training_pipeline import create_training_pipeline
from tests.support import TRAINING_COMPONENTS


def _pipeline(tmp_path, setup=RunSetup(), **overrides):
    return create_training_pipeline(PipelineConfig(home=str(tmp_path), **overrides), setup)


def _by_id(pipeline):
    return {c.id: c for c in pipeline.components}


def test_all_components_in_order(tmp_path):
    ids = [c.id for c in _pipeline(tmp_path).components]
    assert sorted(ids) == sorted(TRAINING_COMPONENTS)
    assert ids.index('ExampleValidationGate') < ids.index('Transform') < ids.index('Trainer')


def test_transform_waits_for_the_validation_gate(tmp_path):
    components = _by_id(_pipeline(tmp_path))
    assert components['ExampleValidationGate'] in components['Transform'].upstream_nodes
    assert components['ExampleValidator'] in components['ExampleValidationGate'].upstream_nodes


def test_the_manifest_records_the_code_and_config_it_is_given(tmp_path):
    import json
    code = {'commit': 'abc', 'dirty': False, 'lock_sha256': 'f00'}
    manifest = _by_id(_pipeline(tmp_path, RunSetup(code_version=code),
                                train_steps=77))['RunManifest']
    recorded = json.loads(manifest.exec_properties['recorded'])
    assert {k: recorded[k] for k in code} == code
    assert recorded['config']['train_steps'] == 77 and 'code_version' not in recorded['config']
    assert manifest.inputs['examples'].producer_component_id == 'CsvExampleGen'


def test_config_reaches_trainer_evaluator_and_pusher(tmp_path):
    components = _by_id(_pipeline(tmp_path, train_steps=77, min_auc=0.8,
                                  hparams={'batch_size': 64}))
    trainer = components['Trainer'].exec_properties
    assert '"num_steps": 77' in trainer['train_args']
    assert '"batch_size": 64' in trainer['custom_config']
    eval_config = components['Evaluator'].exec_properties['eval_config']
    assert '0.8' in eval_config
    for feature in SLICE_FEATURES:
        assert feature in eval_config
    push = components['Pusher'].exec_properties['push_destination']
    assert str(tmp_path / 'serving_model' / 'chicago_taxi') in push


def test_paths_live_under_home(tmp_path):
    config = PipelineConfig(home=str(tmp_path))
    assert config.store.path == str(tmp_path / 'metadata.db')
    assert config.pipeline_root.startswith(str(tmp_path))


def test_pusher_waits_for_the_canary(tmp_path):
    components = _by_id(_pipeline(tmp_path))
    assert components['ServingCanary'] in components['Pusher'].upstream_nodes
    assert components['Evaluator'] in components['ServingCanary'].upstream_nodes


def test_infra_validator_replaces_the_canary_where_docker_runs(tmp_path):
    components = _by_id(_pipeline(tmp_path, infra_validator='docker'))
    assert 'ServingCanary' not in components
    validator = components['InfraValidator']
    assert validator in components['Pusher'].upstream_nodes
    spec = validator.exec_properties['serving_spec']
    assert '"2.16.1"' in spec and 'local_docker' in spec


def test_the_vertex_endpoint_takes_only_canaried_models(tmp_path):
    components = _by_id(_pipeline(tmp_path, vertex_serving={'ai_platform_serving_args': {}}))
    endpoint = components['VertexEndpointPusher']
    assert endpoint.inputs['model_blessing'].producer_component_id == 'Evaluator'
    assert endpoint.inputs['infra_blessing'].producer_component_id == 'ServingCanary'


def test_the_record_module_names_nodes_the_pipeline_has(tmp_path):
    from pipeline.mlmd import STAGE_OUTPUTS
    components = {**_by_id(_pipeline(tmp_path)), **_by_id(_pipeline(tmp_path, tune_trials=2))}
    for stage, sources in STAGE_OUTPUTS.items():
        present = [(node, key) for node, key in sources
                   if node in components and key in components[node].outputs]
        assert present, stage


def test_the_trainer_takes_the_tuners_or_the_latest_tuned_hyperparameters(tmp_path):
    untuned = _by_id(_pipeline(tmp_path))
    assert 'Tuner' not in untuned
    assert untuned['Trainer'].inputs['hyperparameters'].producer_component_id == \
        'latest_hyperparameters_resolver'
    tuned = _by_id(_pipeline(tmp_path, tune_trials=3))
    assert 'latest_hyperparameters_resolver' not in tuned
    assert tuned['Trainer'].inputs['hyperparameters'].producer_component_id == 'Tuner'
    assert '"tune_trials": 3' in tuned['Tuner'].exec_properties['custom_config']
    assert tuned['Tuner'].exec_properties['tuner_fn'] == 'models.tuner.tuner_fn'


def test_no_tuned_hyperparameters_yet_resolves_to_none_and_later_to_the_newest():
    from tfx.types.standard_artifacts import HyperParameters

    from pipeline.resolvers import LatestIfAnyStrategy
    strategy = LatestIfAnyStrategy()
    assert strategy.resolve_artifacts(None, {'hyperparameters': []}) == {'hyperparameters': []}
    older, newer = HyperParameters(), HyperParameters()
    older.id, newer.id = 3, 7
    resolved = strategy.resolve_artifacts(None, {'hyperparameters': [newer, older]})
    assert resolved == {'hyperparameters': [newer]}


def test_every_dag_names_its_nodes_from_component_ids(tmp_path):
    """The batch and rollback DAGs too: ML Metadata is read back by these names."""
    from pipeline import component_ids as ids
    from pipeline.batch_pipeline import create_batch_pipeline
    from pipeline.rollback_pipeline import create_rollback_pipeline
    config = PipelineConfig(home=str(tmp_path))
    batch = create_batch_pipeline(config, str(tmp_path), str(tmp_path / 'model'), ())
    rollback = create_rollback_pipeline(config, str(tmp_path / 'model'),
                                        str(tmp_path / 'blessing'), 7)
    assert {c.id for c in batch.components} == {
        ids.EXAMPLE_GEN, ids.BLESSED_MODEL_IMPORTER, ids.BULK_INFERRER}
    assert {c.id for c in rollback.components} == {
        ids.ROLLBACK_MODEL_IMPORTER, ids.ROLLBACK_BLESSING_IMPORTER, ids.PUSHER}
    assert batch.pipeline_info.pipeline_name == 'chicago-taxi-batch'
    assert rollback.pipeline_info.pipeline_name == 'chicago-taxi-rollback'
    training = {c.id for setup in ({}, {'tune_trials': 2}, {'infra_validator': 'docker'},
                                   {'vertex_serving': {'ai_platform_serving_args': {}}})
                for c in _pipeline(tmp_path, **setup).components}
    every_node = training | {c.id for c in batch.components + rollback.components}
    assert set(ids.FINAL_NODES) | set(ids.ALWAYS_RUN) <= every_node
    named = {value for name, value in vars(ids).items()
             if name.isupper() and isinstance(value, str) and not name.endswith(('_SUFFIX',
                                                                                 '_PIPELINE'))}
    assert named == every_node
