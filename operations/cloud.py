"""The same training pipeline on Dataflow and Vertex AI Pipelines: a profile in,
a PipelineConfig (and Beam arguments, job specs) out; compiling and submitting
for Vertex AI."""

import dataclasses
import os
from typing import Any, Dict, Tuple

from common.exit_status import UsageError
from pipeline.config import REPO_ROOT, SETUP_FILE, PipelineConfig, RunSetup
from pipeline.profiles import Profile, ProfileError, load_profile

# Vertex AI's prebuilt TF 2.16 serving image, for the optional endpoint push.
VERTEX_SERVING_IMAGE = 'us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-16:latest'


def named_profile(name: str) -> Profile:
    """The named profile; UsageError naming the setting that is missing or wrong."""
    try:
        return load_profile(name)
    except ProfileError as error:
        raise UsageError(str(error)) from None


def dataflow_beam_args(profile: Profile) -> Tuple[str, ...]:
    """Beam pipeline options that send every Beam component to Dataflow."""
    args = ['--runner=DataflowRunner',
            f'--project={profile.project}',
            f'--region={profile.region}',
            f'--temp_location={profile.bucket}/tmp',
            f'--staging_location={profile.bucket}/staging',
            f'--machine_type={profile.dataflow_machine_type}',
            f'--max_num_workers={profile.dataflow_max_workers}',
            f'--disk_size_gb={profile.dataflow_disk_gb}',
            '--autoscaling_algorithm=THROUGHPUT_BASED']
    if profile.service_account:
        args.append(f'--service_account_email={profile.service_account}')
    if profile.image:   # workers run the pipeline image: our packages and pinned deps
        args += [f'--sdk_container_image={profile.image}', '--experiments=use_runner_v2']
    else:               # workers install our packages from setup.py
        args.append(f'--setup_file={SETUP_FILE}')
    return tuple(args)


def vertex_training_args(profile: Profile) -> Dict[str, Any]:
    """The extension Trainer's custom_config: a Vertex AI CustomJob on a GPU machine."""
    from tfx.extensions.google_cloud_ai_platform.trainer import executor

    machine: Dict[str, Any] = {'machine_type': profile.trainer_machine_type}
    if profile.accelerator_type:
        machine.update(accelerator_type=profile.accelerator_type,
                       accelerator_count=profile.accelerator_count)
    job_spec: Dict[str, Any] = {'worker_pool_specs': [{'machine_spec': machine, 'replica_count': 1,
                                       'container_spec': {'image_uri': profile.image}}]}
    if profile.service_account:
        job_spec['service_account'] = profile.service_account
    return {executor.ENABLE_VERTEX_KEY: True,
            executor.VERTEX_REGION_KEY: profile.region,
            executor.TRAINING_ARGS_KEY: {'project': profile.project, 'job_spec': job_spec}}


def vertex_tuning_args(profile: Profile) -> Dict[str, Any]:
    """The cloud Tuner's custom_config: its trials as a Vertex AI CustomJob on the
    Trainer's machine type and accelerator (TFX adds a worker per parallel trial)."""
    from tfx.extensions.google_cloud_ai_platform import constants
    from tfx.extensions.google_cloud_ai_platform.trainer import executor as trainer_executor
    from tfx.extensions.google_cloud_ai_platform.tuner import executor
    training = vertex_training_args(profile)
    return {executor.TUNING_ARGS_KEY: training[trainer_executor.TRAINING_ARGS_KEY],
            constants.ENABLE_VERTEX_KEY: True, constants.VERTEX_REGION_KEY: profile.region}


def vertex_serving_args(profile: Profile) -> Dict[str, Any]:
    """The extension Pusher's custom_config: deploy to the profile's Vertex AI endpoint."""
    from tfx.extensions.google_cloud_ai_platform import constants
    return {constants.ENABLE_VERTEX_KEY: True,
            constants.VERTEX_REGION_KEY: profile.region,
            constants.VERTEX_CONTAINER_IMAGE_URI_KEY: VERTEX_SERVING_IMAGE,
            constants.SERVING_ARGS_KEY: {'project_id': profile.project,
                                         'endpoint_name': profile.vertex_endpoint,
                                         'machine_type': 'n1-standard-4'}}


def cloud_config(profile: Profile, base: PipelineConfig) -> PipelineConfig:
    """base with the profile's storage, data, Beam runner and Vertex jobs."""
    vertex = profile.runner == 'vertex'
    return dataclasses.replace(
        base,
        data_root=profile.data,
        storage_root=profile.bucket,
        beam_pipeline_args=dataflow_beam_args(profile),
        local_metadata=not vertex,
        vertex_training=vertex_training_args(profile) if vertex else None,
        vertex_tuning=vertex_tuning_args(profile) if vertex and base.tune_trials else None,
        tune_parallel_trials=profile.tune_parallel_trials,
        vertex_serving=vertex_serving_args(profile) if vertex and profile.vertex_endpoint else None)


def vertex_setup(config: PipelineConfig, profile: Profile) -> RunSetup:
    """What a Vertex AI run is made from: the code in the profile's image, the schema
    at its staged path in the bucket (stage_vertex_schema copies it there)."""
    from operations.training_run import staged_schema_path
    from pipeline.manifest import code_version
    return RunSetup(code_version=code_version(REPO_ROOT, profile.image),
                    schema_file=staged_schema_path(config.schema_file, config.paths.schema_dir))


def compile_vertex(config: PipelineConfig, profile: Profile, output: str) -> str:
    """Writes the pipeline as a Kubeflow Pipelines v2 / Vertex AI PipelineJob JSON."""
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

    from pipeline.training_pipeline import create_training_pipeline
    output = os.path.abspath(output)
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(default_image=profile.image),
        output_dir=os.path.dirname(output), output_filename=os.path.basename(output))
    runner.run(create_training_pipeline(config, vertex_setup(config, profile)), write_out=True)
    return output


def google_credentials() -> Any:
    """Application Default Credentials, or a UsageError saying how to get them."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError
    try:
        return google.auth.default()[0]
    except DefaultCredentialsError:
        raise UsageError(
            'no Google Cloud credentials: run `gcloud auth application-default login` or set '
            'GOOGLE_APPLICATION_CREDENTIALS to a service account key file') from None


def submit_vertex(pipeline_json: str, config: PipelineConfig, profile: Profile,
                  credentials: Any) -> str:
    """Stages the schema in the bucket and submits the compiled pipeline to Vertex AI
    Pipelines; returns the job's name."""
    from google.cloud import aiplatform

    from operations.training_run import stage_schema
    stage_schema(config.schema_file, config.paths.schema_dir)
    aiplatform.init(project=profile.project, location=profile.region, credentials=credentials)
    job = aiplatform.PipelineJob(display_name=config.pipeline_name, template_path=pipeline_json,
                                 pipeline_root=config.pipeline_root, enable_caching=True)
    job.submit(service_account=profile.service_account or None)
    return job.resource_name
