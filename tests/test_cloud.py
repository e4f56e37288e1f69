"""Profiles, the compiled Vertex AI / Kubeflow pipeline, Dataflow options, the
package and the image recipe: everything about scale-out that runs without a cloud."""

import json
import os
import re
import subprocess
import sys
import zipfile

import pytest
import tfx

from pipeline.profiles import ProfileError, load_profile
from serving.local_server import REPO

VERTEX_ENV = {'TAXI_PROJECT': 'my-project', 'TAXI_BUCKET': 'gs://my-bucket',
              'TAXI_IMAGE': 'us-docker.pkg.dev/my-project/taxi/pipeline:1'}
PACKAGES = ['common', 'models', 'serving', 'pipeline', 'operations', 'runner']


# --- Profiles ------------------------------------------------------------------------

def test_profiles_read_the_file_and_the_environment():
    profile = load_profile('vertex', environ={**VERTEX_ENV, 'TAXI_ACCELERATOR_COUNT': '2'})
    assert (profile.project, profile.region, profile.bucket) == (
        'my-project', 'us-central1', 'gs://my-bucket')
    assert (profile.accelerator_type, profile.accelerator_count) == ('NVIDIA_TESLA_T4', 2)
    assert profile.data == 'gs://my-bucket/data/chicago_taxi'
    assert load_profile('local', environ={}).runner == 'local'


@pytest.mark.parametrize('name, environ, message', [
    ('vertex', {}, "profile 'vertex', setting 'project': missing (set it in "
                   "pipeline/profiles.yaml or as TAXI_PROJECT)"),
    ('vertex', {**VERTEX_ENV, 'TAXI_IMAGE': ''}, "setting 'image': missing"),
    ('dataflow', {'TAXI_PROJECT': 'my-project', 'TAXI_BUCKET': 'my-bucket'},
     "setting 'bucket': 'my-bucket' is not a gs:// URI"),
    ('dataflow', {'TAXI_PROJECT': 'My_Project', 'TAXI_BUCKET': 'gs://b-1'},
     "setting 'project': 'My_Project' is not a GCP project id"),
    ('vertex', {**VERTEX_ENV, 'TAXI_ACCELERATOR_TYPE': 'NVIDIA_GTX_1080'},
     "setting 'accelerator_type': 'NVIDIA_GTX_1080' is not one of"),
    ('vertex', {**VERTEX_ENV, 'TAXI_ACCELERATOR_COUNT': '3'},
     "setting 'accelerator_count': must be 1, 2, 4 or 8"),
    ('vertex', {**VERTEX_ENV, 'TAXI_DATAFLOW_MAX_WORKERS': 'many'},
     "setting 'dataflow_max_workers': 'many' is not a number"),
    ('staging', {}, "no profile 'staging'"),
])
def test_profile_errors_name_the_setting(name, environ, message):
    with pytest.raises(ProfileError) as raised:
        load_profile(name, environ=environ)
    assert message in str(raised.value)


@pytest.mark.e2e
def test_cli_reports_a_bad_profile(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith('TAXI_')}
    result = subprocess.run([sys.executable, '-m', 'runner', 'vertex',
                             '--output', str(tmp_path / 'p.json')],
                            capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert result.returncode == 2
    assert "profile 'vertex', setting 'project': missing" in result.stderr


# --- The compiled pipeline -----------------------------------------------------------

@pytest.fixture(scope='module')
def compiled(tmp_path_factory):
    output = tmp_path_factory.mktemp('vertex') / 'pipeline.json'
    result = subprocess.run(
        [sys.executable, '-m', 'runner', 'vertex', '--output', str(output), '--tune',
         '--tune-trials', '8'],
        capture_output=True, text=True, cwd=REPO, timeout=300,
        env={**os.environ, **VERTEX_ENV, 'TAXI_VERTEX_ENDPOINT': 'taxi-endpoint'})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(output.read_text())['pipelineSpec']


def _parameter(task, name):
    return task['inputs']['parameters'][name]['runtimeValue']['constantValue']


@pytest.mark.e2e
def test_compiled_pipeline_holds_every_component(compiled):
    tasks = set(compiled['root']['dag']['tasks'])
    for component in ('CsvExampleGen', 'StatisticsGen', 'ImportSchemaGen', 'ExampleValidator',
                      'ExampleValidationGate', 'Transform', 'Trainer', 'Evaluator', 'Pusher',
                      'VertexEndpointPusher'):
        assert component in tasks, component
    assert any(task.startswith('latest_blessed_model_resolver') for task in tasks)
    transform = compiled['root']['dag']['tasks']['Transform']
    assert 'ExampleValidationGate' in transform['dependentTasks']


@pytest.mark.e2e
def test_the_endpoint_push_needs_the_canarys_blessing(compiled):
    inputs = compiled['root']['dag']['tasks']['VertexEndpointPusher']['inputs']['artifacts']
    assert inputs['infra_blessing']['taskOutputArtifact']['producerTask'] == 'ServingCanary'
    assert inputs['model_blessing']['taskOutputArtifact']['producerTask'] == 'Evaluator'


@pytest.mark.e2e
def test_the_cloud_tuner_runs_trials_in_parallel_and_feeds_the_trainer(compiled):
    tasks = compiled['root']['dag']['tasks']
    tuner = tasks['Tuner']
    assert json.loads(_parameter(tuner, 'tune_args')['stringValue']) == {'num_parallel_trials': 4}
    config = json.loads(_parameter(tuner, 'custom_config')['stringValue'])
    assert config['ai_platform_enable_vertex'] is True and config['tune_trials'] == 8
    [pool] = config['ai_platform_tuning_args']['job_spec']['worker_pool_specs']
    assert pool['machine_spec']['accelerator_type'] == 'NVIDIA_TESLA_T4'
    executor = compiled['deploymentSpec']['executors']['Tuner_executor']['container']
    assert any('google_cloud_ai_platform.tuner' in arg for arg in executor['args'])
    hyperparameters = tasks['Trainer']['inputs']['artifacts']['hyperparameters']
    assert hyperparameters['taskOutputArtifact']['producerTask'] == 'Tuner'


@pytest.mark.e2e
def test_beam_components_run_on_dataflow_in_the_image(compiled):
    executors = compiled['deploymentSpec']['executors']
    for component in ('CsvExampleGen', 'StatisticsGen', 'Transform', 'Evaluator'):
        container = executors[f'{component}_executor']['container']
        assert container['image'] == VERTEX_ENV['TAXI_IMAGE']
        args = container['args']
        for expected in ('--runner=DataflowRunner', '--project=my-project',
                         '--region=us-central1', '--temp_location=gs://my-bucket/tmp',
                         f'--sdk_container_image={VERTEX_ENV["TAXI_IMAGE"]}',
                         '--autoscaling_algorithm=THROUGHPUT_BASED', '--max_num_workers=8'):
            assert expected in args, (component, expected)


@pytest.mark.e2e
def test_trainer_runs_on_vertex_training_with_a_gpu(compiled):
    trainer = compiled['root']['dag']['tasks']['Trainer']
    config = json.loads(_parameter(trainer, 'custom_config')['stringValue'])
    assert config['ai_platform_enable_vertex'] is True
    assert config['ai_platform_vertex_region'] == 'us-central1'
    [pool] = config['ai_platform_training_args']['job_spec']['worker_pool_specs']
    assert pool['machine_spec'] == {'machine_type': 'n1-standard-8',
                                    'accelerator_type': 'NVIDIA_TESLA_T4', 'accelerator_count': 1}
    assert pool['container_spec']['image_uri'] == VERTEX_ENV['TAXI_IMAGE']
    assert config['hparams'] == {}
    assert _parameter(trainer, 'run_fn')['stringValue'] == 'models.trainer.run_fn'


@pytest.mark.e2e
def test_paths_are_on_gcs(compiled):
    tasks = compiled['root']['dag']['tasks']
    schema = _parameter(tasks['ImportSchemaGen'], 'schema_file')['stringValue']
    assert re.fullmatch(r'gs://my-bucket/schema/[0-9a-f]{16}/schema\.pbtxt', schema)
    assert _parameter(tasks['CsvExampleGen'], 'input_base')['stringValue'] == \
        'gs://my-bucket/data/chicago_taxi'
    push = json.loads(_parameter(tasks['Pusher'], 'push_destination')['stringValue'])
    assert push['filesystem']['base_directory'] == 'gs://my-bucket/serving_model/chicago_taxi'
    endpoint = json.loads(_parameter(tasks['VertexEndpointPusher'], 'custom_config')['stringValue'])
    assert endpoint['ai_platform_serving_args']['endpoint_name'] == 'taxi-endpoint'


@pytest.mark.e2e
def test_submit_without_credentials_fails_clearly(tmp_path):
    env = {**os.environ, **VERTEX_ENV, 'NO_GCE_CHECK': 'True',
           'GOOGLE_APPLICATION_CREDENTIALS': str(tmp_path / 'missing.json'),
           'CLOUDSDK_CONFIG': str(tmp_path / 'gcloud')}
    result = subprocess.run([sys.executable, '-m', 'runner', 'vertex', '--submit',
                             '--output', str(tmp_path / 'p.json')],
                            capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert result.returncode == 2
    assert 'error: no Google Cloud credentials' in result.stderr
    assert not (tmp_path / 'p.json').exists()    # refused before compiling anything


# --- Dataflow from this machine --------------------------------------------------------

def test_dataflow_profile_gives_local_metadata_and_dataflow_beam(tmp_path):
    from operations.cloud import cloud_config
    from pipeline.config import PipelineConfig
    profile = load_profile('dataflow', environ={'TAXI_PROJECT': 'my-project',
                                                'TAXI_BUCKET': 'gs://my-bucket'})
    config = cloud_config(profile, PipelineConfig(home=str(tmp_path)))
    assert config.local_metadata and config.store.path == str(tmp_path / 'metadata.db')
    assert config.pipeline_root == 'gs://my-bucket/pipelines/chicago-taxi'
    assert config.vertex_training is None
    assert '--runner=DataflowRunner' in config.beam_pipeline_args
    assert any(a.startswith('--setup_file=') and a.endswith('setup.py')
               for a in config.beam_pipeline_args)   # no image: workers install setup.py


# --- The package and the image ---------------------------------------------------------

@pytest.mark.e2e
def test_wheel_carries_every_package(tmp_path):
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation',
                    '-q', '-w', str(tmp_path), REPO], check=True, timeout=300)
    [wheel] = list(tmp_path.glob('*.whl'))
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in PACKAGES:
        sources = {os.path.relpath(os.path.join(d, f), REPO)
                   for d, _, files in os.walk(os.path.join(REPO, package))
                   for f in files if f.endswith('.py')}
        assert sources and sources <= names, sources - names
    assert {'pipeline/profiles.yaml', 'operations/templates/report.html'} <= names


def test_dockerfile_builds_on_the_matching_tfx_image_from_the_lock():
    dockerfile = open(os.path.join(REPO, 'Dockerfile')).read()
    assert f'FROM tensorflow/tfx:{tfx.__version__}' in dockerfile
    assert 'uv pip install --system --no-cache -r requirements.lock' in dockerfile
    for package in PACKAGES:
        assert f'COPY {package}/ {package}/' in dockerfile
    assert 'ENTRYPOINT ["/opt/apache/beam/boot"]' in dockerfile
