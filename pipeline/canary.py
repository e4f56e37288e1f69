"""Canary before push: the candidate must serve before Pusher may copy it.

The candidate is loaded by this project's model server (serving/) listening on
a free loopback port; loading replays its warmup requests; then a sample of
eval examples goes through TF Serving's gRPC Predict API. Any failure - the
model does not load, a warmup request or a prediction fails, an output is not
a probability - marks the candidate INFRA_NOT_BLESSED, as TFX's InfraValidator
does, and Pusher (which takes this blessing) pushes nothing. Where Docker or
Kubernetes runs the real TF Serving image, InfraValidator does this job instead
(see pipeline.training_pipeline).
"""

import glob
import os
import tempfile
from typing import List, Tuple

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types.standard_artifacts import Examples, InfraBlessing, Model, ModelBlessing

from pipeline.mlmd import BLESSED, INFRA_REASON

MODEL_NAME = 'canary'


def eval_examples(examples_uri: str, count: int, drop: Tuple[str, ...]) -> List[bytes]:
    """Up to count serialized tf.Examples of the eval split, without the `drop` features."""
    import tensorflow as tf
    files = glob.glob(os.path.join(examples_uri, 'Split-eval', '*'))
    sample = []
    for record in tf.data.TFRecordDataset(files, compression_type='GZIP').take(count):
        example = tf.train.Example.FromString(record.numpy())
        for name in drop:
            example.features.feature.pop(name, None)
        sample.append(example.SerializeToString())
    return sample


def check_candidate(model_dir: str, examples: List[bytes], batch_size: int = 50) -> str:
    """'' when the model serves every example, else what went wrong."""
    import grpc
    import numpy as np
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_service_pb2_grpc

    from serving import tensors
    from serving.grpc_service import start_grpc_server
    from serving.options import ServerOptions
    from serving.server import build

    with tempfile.TemporaryDirectory() as base:
        os.symlink(os.path.abspath(model_dir), os.path.join(base, '1'))
        options = ServerOptions(model_name=MODEL_NAME, model_base_path=base, rest_api_port=0,
                                file_system_poll_wait_seconds=0)
        api = build(options)
        state = api.manager.status(model_pb2.ModelSpec(name=MODEL_NAME))[1]
        if state.state != 'AVAILABLE':
            return f'the model did not load: {state.error.message if state.error else state.state}'
        server, _, port = start_grpc_server(api, '127.0.0.1:0', max_threads=4,
                                            max_message_bytes=options.max_message_bytes)
        try:
            with grpc.insecure_channel(f'127.0.0.1:{port}') as channel:
                stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
                for start in range(0, len(examples), batch_size):
                    batch = examples[start:start + batch_size]
                    request = predict_pb2.PredictRequest()
                    request.model_spec.name = MODEL_NAME
                    request.inputs['examples'].CopyFrom(tensors.strings_proto(batch))
                    try:
                        response = stub.Predict(request, timeout=60)
                    except grpc.RpcError as error:
                        return f'Predict failed: {error.code().name}: {error.details()}'
                    values = tensors.to_ndarray(response.outputs['probabilities'])
                    if values.shape != (len(batch), 1) or not np.all((values >= 0) & (values <= 1)):
                        return f'Predict answered {values.shape} values, not probabilities'
        finally:
            server.stop(grace=None)
            api.close()
    return ''


@component
def ServingCanary(model: InputArtifact[Model], model_blessing: InputArtifact[ModelBlessing],
                  examples: InputArtifact[Examples], infra_blessing: OutputArtifact[InfraBlessing],
                  sample_size: Parameter[int] = 200) -> None:
    """Blesses (INFRA_BLESSED) a candidate the Evaluator blessed and our server can serve."""
    from models.features import LABEL_KEY

    if model_blessing.get_int_custom_property(BLESSED) != 1:
        reason = 'not blessed by the Evaluator'
    else:
        reason = check_candidate(os.path.join(model.uri, 'Format-Serving'),
                                 eval_examples(examples.uri, sample_size, (LABEL_KEY,)))
    blessed = not reason
    os.makedirs(infra_blessing.uri, exist_ok=True)
    open(os.path.join(infra_blessing.uri, 'INFRA_BLESSED' if blessed else 'INFRA_NOT_BLESSED'),
         'w').close()
    infra_blessing.set_int_custom_property(BLESSED, int(blessed))
    infra_blessing.set_string_custom_property(INFRA_REASON, reason)

