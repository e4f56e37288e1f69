"""The production configs under serving/deploy parse as TF Serving reads them,
agree with each other, and run on our server too."""

import os

import tensorflow as tf
import yaml
from tensorflow_serving.apis import model_pb2
from tensorflow_serving.config import model_server_config_pb2

from serving.batching import BatchingOptions
from serving.local_server import REPO
from serving.protos import BatchingParameters, MonitoringConfig, read_text_proto

DEPLOY = os.path.join(REPO, 'serving', 'deploy')


def _path(*parts):
    return os.path.join(DEPLOY, *parts)


def _yaml(*parts):
    with open(_path(*parts)) as f:
        return yaml.safe_load(f)


def test_text_protos_parse_with_tf_serving_messages():
    models = read_text_proto(_path('models.config'), model_server_config_pb2.ModelServerConfig)
    [model] = models.model_config_list.config
    assert (model.name, model.base_path) == ('chicago_taxi', '/models/chicago_taxi')
    assert model.model_version_policy.latest.num_versions == 1
    batching = BatchingOptions(read_text_proto(_path('batching_parameters.txt'),
                                               BatchingParameters))
    assert batching.max_batch_size == 64 and batching.timeout_seconds == 0
    monitoring = read_text_proto(_path('monitoring.config'), MonitoringConfig)
    assert monitoring.prometheus_config.enable
    assert monitoring.prometheus_config.path == '/monitoring/prometheus/metrics'


def test_images_match_the_tensorflow_the_models_are_trained_with():
    major_minor = '.'.join(tf.__version__.split('.')[:2])
    container = _yaml('k8s', 'deployment.yaml')['spec']['template']['spec']['containers'][0]
    service = _yaml('compose.yaml')['services']['tf-serving']
    for image in (container['image'], service['image']):
        assert image.startswith(f'tensorflow/serving:{major_minor}.'), image


def test_kubernetes_manifests_agree():
    deployment = _yaml('k8s', 'deployment.yaml')
    pod = deployment['spec']['template']['spec']
    container = pod['containers'][0]
    ports = {p['name']: p['containerPort'] for p in container['ports']}
    assert ports == {'grpc': 8500, 'http': 8501}
    assert container['readinessProbe']['httpGet']['path'] == '/v1/models/chicago_taxi'
    assert '--model_config_file=/config/models.config' in container['args']
    mounts = {m['name']: m['mountPath'] for m in container['volumeMounts']}
    assert mounts == {'models': '/models', 'config': '/config'}
    assert deployment['spec']['strategy']['rollingUpdate']['maxUnavailable'] == 0

    service = _yaml('k8s', 'service.yaml')
    assert service['spec']['selector'] == deployment['spec']['selector']['matchLabels']
    hpa = _yaml('k8s', 'hpa.yaml')
    assert hpa['spec']['scaleTargetRef']['name'] == deployment['metadata']['name']
    kustomization = _yaml('k8s', 'kustomization.yaml')
    for resource in kustomization['resources']:
        assert os.path.exists(_path('k8s', resource))
    for entry in kustomization['configMapGenerator'][0]['files']:
        assert os.path.exists(_path('k8s', entry.split('=', 1)[1]))


def test_compose_runs_the_same_flags_as_kubernetes():
    compose = _yaml('compose.yaml')['services']['tf-serving']['command']
    pod = _yaml('k8s', 'deployment.yaml')['spec']['template']['spec']
    kubernetes = pod['containers'][0]['args']

    def strip(flags):
        return {f for f in flags if not f.startswith('--file_system_poll_wait_seconds')}
    assert strip(compose) == strip(kubernetes)


def test_our_server_takes_the_deploy_configs(exported_model, tmp_path):
    from serving.server import build, parse_flags
    models = read_text_proto(_path('models.config'), model_server_config_pb2.ModelServerConfig)
    os.symlink(exported_model[0], tmp_path / '1')
    models.model_config_list.config[0].base_path = str(tmp_path)
    (tmp_path / 'models.config').write_text(str(models))
    api = build(parse_flags([f'--model_config_file={tmp_path / "models.config"}',
                             '--enable_batching',
                             f'--batching_parameters_file={_path("batching_parameters.txt")}',
                             f'--monitoring_config_file={_path("monitoring.config")}']))
    status = api.manager.status(model_pb2.ModelSpec(name='chicago_taxi'))
    assert status[1].state == 'AVAILABLE'
