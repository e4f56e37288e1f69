"""Classify, Regress and MultiInference requests with their examples left serialized.

A tf.Example inside a request is a length-delimited field: read as `bytes` it
is the serialized example itself, which is all the model takes. These message
types mirror tensorflow_serving.apis' field for field (same numbers, same
wire format) with `Example` as `bytes`, so a request parses without building a
message per example and per feature (a 6 MB example of 300k features took
~37x its size as messages, and the same again to serialize it back for the
model), and an example's own features win over its context's by concatenation,
as in TF Serving (the parser takes a repeated feature's last value).

`to_raw` converts tensorflow_serving.apis' messages to them (warmup records, request logs).
"""

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from tensorflow_serving.apis import inference_pb2, model_pb2

_PACKAGE = 'serving.example_requests'


def _message(name: str, *fields) -> descriptor_pb2.DescriptorProto:
    message = descriptor_pb2.DescriptorProto(name=name)
    for number, field_name, kind, type_name, repeated, oneof in fields:
        field = message.field.add(name=field_name, number=number, type=kind,
                                  label=(descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
                                         if repeated else
                                         descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL))
        if type_name:
            field.type_name = type_name
        if oneof is not None:
            field.oneof_index = oneof
    return message


def _file() -> descriptor_pb2.FileDescriptorProto:
    bytes_, message = (descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
                       descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE)
    here = f'.{_PACKAGE}.'
    raw_input = _message(
        'Input',
        (1, 'example_list', message, here + 'ExampleList', False, 0),
        (2, 'example_list_with_context', message, here + 'ExampleListWithContext', False, 0))
    raw_input.oneof_decl.add(name='kind')
    spec = '.tensorflow.serving.ModelSpec'
    return descriptor_pb2.FileDescriptorProto(
        name='serving/example_requests.proto', package=_PACKAGE, syntax='proto3',
        dependency=[model_pb2.DESCRIPTOR.name, inference_pb2.DESCRIPTOR.name],
        message_type=[
            _message('ExampleList', (1, 'examples', bytes_, '', True, None)),
            _message('ExampleListWithContext', (1, 'examples', bytes_, '', True, None),
                     (2, 'context', bytes_, '', False, None)),
            raw_input,
            _message('ClassificationRequest', (1, 'model_spec', message, spec, False, None),
                     (2, 'input', message, here + 'Input', False, None)),
            _message('RegressionRequest', (1, 'model_spec', message, spec, False, None),
                     (2, 'input', message, here + 'Input', False, None)),
            _message('MultiInferenceRequest',
                     (1, 'tasks', message, '.tensorflow.serving.InferenceTask', True, None),
                     (2, 'input', message, here + 'Input', False, None)),
        ])


def _types():
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName('serving/example_requests.proto')
    except KeyError:
        pool.Add(_file())
    factory = message_factory.MessageFactory(pool)
    return [factory.GetPrototype(pool.FindMessageTypeByName(f'{_PACKAGE}.{name}'))
            for name in ('ClassificationRequest', 'RegressionRequest', 'MultiInferenceRequest')]


ClassificationRequest, RegressionRequest, MultiInferenceRequest = _types()


def to_raw(message, raw_type):
    """A tensorflow_serving.apis request as the raw type of the same request."""
    return raw_type.FromString(message.SerializeToString())
