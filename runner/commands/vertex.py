"""Compile the pipeline for Vertex AI Pipelines (a Kubeflow Pipelines v2
PipelineSpec, which Kubeflow Pipelines 2.x also runs) and, with --submit, submit
it. Every component runs in the profile's image, Beam components on Dataflow,
the Trainer as a Vertex AI training job."""

import dataclasses

from pipeline.config import PipelineConfig
from runner import cloud, local
from runner.commands import arguments

NAME = 'vertex'
HELP = 'compile for Vertex AI Pipelines (and submit with --submit)'
EXAMPLES = '''examples:
  export TAXI_PROJECT=my-project TAXI_BUCKET=gs://my-bucket \\
         TAXI_IMAGE=us-central1-docker.pkg.dev/my-project/taxi/pipeline:1
  python -m runner vertex --output pipeline.json             # compile only
  python -m runner vertex --output pipeline.json --submit    # compile and submit
  python -m runner vertex --tune --tune-trials 40 --submit    # with the cloud Tuner
'''
WRITES_HOME = False


def add_arguments(parser) -> None:
    parser.add_argument('--profile', default='vertex', help='in pipeline/profiles.yaml')
    parser.add_argument('--output', default='pipeline.json',
                        help='PipelineJob JSON to write (default: pipeline.json)')
    parser.add_argument('--train-steps', type=arguments.positive_int,
                        default=PipelineConfig.train_steps,
                        help=f'training steps (default: {PipelineConfig.train_steps})')
    parser.add_argument('--tune', action='store_true',
                        help="compile the cloud Tuner before the Trainer (trials in parallel: "
                             "the profile's tune_parallel_trials)")
    parser.add_argument('--tune-trials', type=arguments.positive_int,
                        help='trials of the search (default 10; needs --tune)')
    parser.add_argument('--submit', action='store_true',
                        help='submit the compiled pipeline to Vertex AI Pipelines '
                             '(needs Google Cloud credentials)')


def check(args) -> None:
    arguments.tuning(args)
    args.loaded_profile = cloud.named_profile(args.profile)
    args.credentials = cloud.google_credentials() if args.submit else None


def run(args) -> int:
    profile = args.loaded_profile
    config = cloud.cloud_config(profile, PipelineConfig(train_steps=args.train_steps,
                                                        tune_trials=args.tune_trials))
    schema, schema_dir = config.schema_file, config.paths.schema_dir
    config = dataclasses.replace(config,
                                 schema_file=local.staged_schema_path(schema, schema_dir))
    path = cloud.compile_vertex(config, profile, args.output)
    print(f'Pipeline written to {path}')
    if args.submit:
        local.stage_schema(schema, schema_dir)
        print(f'Submitted: {cloud.submit_vertex(path, config, profile, args.credentials)}')
    return 0
