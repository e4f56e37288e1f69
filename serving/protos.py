"""TF Serving's config messages that the tensorflow-serving-api wheel leaves out.

MonitoringConfig, SSLConfig and BatchingParameters are built here from the
same field names and numbers as TF Serving's .proto files, so that the text
files written for tensorflow_model_server parse unchanged.
"""

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_format,
    wrappers_pb2,
)

_F = descriptor_pb2.FieldDescriptorProto
_POOL = descriptor_pool.DescriptorPool()
_POOL.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)


def _file(name, messages):
    """Adds a .proto file's messages: (name, [(field, type, type_name, repeated)]),
    fields numbered from 1 in order, as in TF Serving's files."""
    proto = descriptor_pb2.FileDescriptorProto(
        name=name, package='tensorflow.serving', syntax='proto3',
        dependency=['google/protobuf/wrappers.proto'])
    for message_name, fields in messages:
        message = proto.message_type.add(name=message_name)
        for number, (field_name, kind, type_name, repeated) in enumerate(fields, start=1):
            field = message.field.add(
                name=field_name, number=number, type=kind,
                label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL)
            if type_name:
                field.type_name = type_name
    _POOL.Add(proto)



def _int64_value(name):
    return (name, _F.TYPE_MESSAGE, '.google.protobuf.Int64Value', False)


_file('tensorflow_serving/config/monitoring_config.proto', [
    ('PrometheusConfig', [('enable', _F.TYPE_BOOL, '', False),
                          ('path', _F.TYPE_STRING, '', False)]),
    ('MonitoringConfig', [('prometheus_config', _F.TYPE_MESSAGE,
                           '.tensorflow.serving.PrometheusConfig', False)]),
])
_file('tensorflow_serving/config/ssl_config.proto', [
    ('SSLConfig', [('server_key', _F.TYPE_STRING, '', False),
                   ('server_cert', _F.TYPE_STRING, '', False),
                   ('custom_ca', _F.TYPE_STRING, '', False),
                   ('client_verify', _F.TYPE_BOOL, '', False)]),
])
_file('tensorflow_serving/servables/tensorflow/batching_parameters.proto', [
    ('BatchingParameters', [
        _int64_value('max_batch_size'),
        _int64_value('batch_timeout_micros'),
        _int64_value('max_enqueued_batches'),
        _int64_value('num_batch_threads'),
        ('thread_pool_name', _F.TYPE_MESSAGE, '.google.protobuf.StringValue', False),
        ('allowed_batch_sizes', _F.TYPE_INT64, '', True),
        ('pad_variable_length_inputs', _F.TYPE_BOOL, '', False),
    ]),
])


def _message_class(full_name):
    return message_factory.MessageFactory(_POOL).GetPrototype(
        _POOL.FindMessageTypeByName(full_name))


MonitoringConfig = _message_class('tensorflow.serving.MonitoringConfig')
SSLConfig = _message_class('tensorflow.serving.SSLConfig')
BatchingParameters = _message_class('tensorflow.serving.BatchingParameters')


def read_text_proto(path: str, message_class):
    """Parses a text-format proto file; the error names the file."""
    with open(path) as f:
        text = f.read()
    try:
        return text_format.Parse(text, message_class())
    except text_format.ParseError as error:
        raise ValueError(f'{path}: not a valid {message_class.DESCRIPTOR.name}: {error}') from None
