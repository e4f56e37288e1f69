"""TF Serving's PredictionService and ModelService semantics, transport aside.

gRPC (grpc_service.py) and REST (rest.py) both call these methods with the
tensorflow_serving.apis request protos and return the response protos;
failures are ServingErrors with TF Serving's status codes and messages.
"""

import contextlib
import logging
import threading
import time
from typing import Callable, Dict, Optional, Sequence, Set, Tuple

import grpc
import numpy as np
from google.protobuf import any_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    predict_pb2,
    regression_pb2,
)

from serving import example_requests, tensors
from serving import metrics as m
from serving.admission import (
    Admission,
    Cost,
    Ticket,
    examples_bytes,
    examples_cost,
    predict_cost,
)
from serving.batching import Batcher
from serving.errors import ServingError, failed_precondition, invalid_argument, resource_exhausted
from serving.manager import ModelManager
from serving.python_work import PythonWork
from serving.reload_policy import ReloadPolicy
from serving.request_log import RequestLogs
from serving.servable import Servable, SignatureInfo, read_warmup_requests

log = logging.getLogger(__name__)

DEFAULT_SIGNATURE = 'serving_default'
# A Predict expanding to at most this many elements may run on the gRPC event loop,
# unless its signature took more than LOOP_SECONDS there (grpc_service.py).
INLINE_ELEMENTS = 1024
LOOP_SECONDS = 0.005
CLASSIFY_METHOD = 'tensorflow/serving/classify'
REGRESS_METHOD = 'tensorflow/serving/regress'


def _signature_name(spec) -> str:
    return spec.signature_name or DEFAULT_SIGNATURE


def _set_model_spec(target, servable: Servable, signature_name: Optional[str]) -> None:
    target.name = servable.name
    target.version.value = servable.version
    if signature_name is not None:
        target.signature_name = signature_name


def _check_shape(name: str, dims: Optional[Tuple[int, ...]], value: np.ndarray) -> None:
    """INVALID_ARGUMENT unless the value has the signature's shape (dims None: any)."""
    if dims is None:
        return
    if len(dims) != value.ndim or any(
            d >= 0 and d != v for d, v in zip(dims, value.shape, strict=True)):
        raise invalid_argument(
            f'Input {name} has shape {list(value.shape)}, but the signature expects '
            f'{["?" if d < 0 else d for d in dims]}')


def _listed(request_input) -> Tuple[Sequence[bytes], bytes]:
    """(the serialized examples of an Input in its raw form (serving/example_requests.py),
    their context's bytes or b'')."""
    kind = request_input.WhichOneof('kind')
    if kind == 'example_list':
        return request_input.example_list.examples, b''
    if kind == 'example_list_with_context':
        listed = request_input.example_list_with_context
        return listed.examples, listed.context
    return (), b''


def _serialized_examples(request_input) -> np.ndarray:
    """The Input's examples as the model takes them: each after its context's bytes, so
    that its own features win (the parser keeps a repeated feature's last value)."""
    examples, context = _listed(request_input)
    if not examples:
        raise invalid_argument('Input is empty.')
    serialized = np.empty(len(examples), dtype=object)
    serialized[:] = [context + example for example in examples] if context else list(examples)
    return serialized


def _names(keys) -> str:
    return ', '.join(sorted(keys)) or 'none'


def _one_input_signature(servable: Servable, spec, input_key: str, what: str):
    """(name, SignatureDef) of the signature a Classify or Regress names, if it takes
    one input, `input_key`; else INVALID_ARGUMENT or FAILED_PRECONDITION naming the
    signature, what it has, and the signatures that would do (not the whole
    SignatureDef, as TF Serving quotes it)."""
    name = _signature_name(spec)
    signature = servable.signature_defs.get(name)
    if signature is None:
        raise invalid_argument(f'No signature was found with the name: {name}')
    if len(signature.inputs) == 1 and input_key in signature.inputs:
        return name, signature
    fitting = [f'"{key}"' for key, candidate in sorted(servable.signature_defs.items())
               if list(candidate.inputs) == [input_key] and _fits(candidate, what)]
    hint = (f'use the signature {" or ".join(fitting)}' if fitting
            else f'this model has no {what} signature')
    has = (f'takes the inputs {{{_names(signature.inputs)}}} and gives the outputs '
           f'{{{_names(signature.outputs)}}}; {what} needs one input, "{input_key}", of '
           f'serialized tf.Examples: {hint}')
    if len(signature.inputs) != 1:
        raise invalid_argument(f'Expected one input Tensor: signature "{name}" {has}')
    raise failed_precondition(f'No {what} inputs found in SignatureDef "{name}": it {has}')


def _fits(signature, what: str) -> bool:
    """Whether a signature's outputs are what Classify (classes, scores) or Regress
    (outputs) reads."""
    outputs = set(signature.outputs)
    if what == 'classification':
        return 1 <= len(outputs) <= 2 and bool(outputs & {'classes', 'scores'})
    return outputs == {'outputs'}


def reply_too_large(size: int, limit: int, at_least: bool = False) -> ServingError:
    return resource_exhausted(
        f'The reply would be {"at least " if at_least else ""}{size} bytes, over the limit of '
        f'{limit} (--max_message_bytes): ask for fewer examples, or fewer outputs '
        '(output_filter)')


class ServingApi:
    """Requests in, responses out, against the servables the manager holds.

    Every call runs inside serving_call(): while the server drains (SIGTERM), new
    calls get UNAVAILABLE, which clients retry, and drain() waits for the calls
    under way."""

    def __init__(self, manager: ModelManager, metrics: m.Metrics, batcher: Optional[Batcher] = None,
                 request_logs: Optional[RequestLogs] = None, max_message_bytes: int = 64 << 20,
                 reload_policy: Optional[ReloadPolicy] = None,
                 admission: Optional[Admission] = None,
                 activity: Callable[[], None] = lambda: None):
        self.manager = manager
        self.metrics = metrics
        self._batcher = batcher
        self._request_logs = request_logs
        self.max_message_bytes = max_message_bytes
        # Without one given (the canary, tests in process): limits no request can reach.
        self.admission = admission or Admission(1 << 62, 1 << 62)
        # Told as each inference request arrives (before it waits for a thread) and as
        # it ends: the server's memory.Trimmer gives memory back once they stop.
        self.activity = activity
        # Signature -> average seconds of its calls on the gRPC event loop (predict_if_light).
        self._loop_seconds: Dict[Tuple[str, int, str], float] = {}
        self._light_calls = 0
        self.python_work = PythonWork()
        self._reload_policy = reload_policy or ReloadPolicy()
        self._calls = threading.Condition()
        self._in_flight = 0
        self._draining = False

    @contextlib.contextmanager
    def serving_call(self):
        with self._calls:
            if self._draining:
                raise ServingError(grpc.StatusCode.UNAVAILABLE,
                                   'The server is shutting down; retry on another replica')
            self._in_flight += 1
        try:
            yield
        finally:
            with self._calls:
                self._in_flight -= 1
                self._calls.notify_all()

    def calls_under_way(self) -> int:
        return self._in_flight

    def drain(self, seconds: float) -> bool:
        """Refuses new calls; waits up to `seconds` for those under way. True if they ended."""
        with self._calls:
            self._draining = True
            return self._calls.wait_for(lambda: self._in_flight == 0, timeout=seconds)

    def metric_model(self, name: str) -> str:
        """The model_name label for a call: its model if the server knows it, else one
        fixed label, so that made-up names cannot grow the metrics without bound."""
        return name if self.manager.model_config(name) is not None else m.UNKNOWN_MODEL

    def close(self) -> None:
        """Flushes the request logs."""
        if self._request_logs is not None:
            self._request_logs.close()

    def log_request(self, kind: str, request, response):
        """Samples a served request into its model's request log, if it has one;
        returns the response."""
        if self._request_logs is not None:
            spec = response.results[0].model_spec if kind == 'multi_inference' \
                else response.model_spec
            logger = self._request_logs.for_model(self.manager.model_config(spec.name))
            if logger is not None:
                logger.log(kind, request, response)
        return response

    def _run(self, servable: Servable, signature: str, inputs: Dict[str, np.ndarray],
             outputs: Sequence[str], api: str) -> Dict[str, np.ndarray]:
        started = time.perf_counter()
        with self.python_work.outside():
            if self._batcher is not None:
                result = self._batcher.run(servable, signature, inputs, outputs)
            else:
                result = servable.run(signature, inputs, outputs)
        self.metrics.observe(m.RUNTIME_LATENCY, (time.perf_counter() - started) * 1e6,
                             model_name=servable.name, API=api, runtime='TF1')
        self._check_outputs(result)
        return result

    # --- Predict --------------------------------------------------------------

    def predict(self, request: predict_pb2.PredictRequest, servable: Optional[Servable] = None,
                ticket: Optional[Ticket] = None) -> predict_pb2.PredictResponse:
        """Predict, admitted by its cost (on `ticket`, if the caller holds one)."""
        servable = servable or self.manager.get(request.model_spec)
        shapes = self._checked_shapes(request)             # malformed before expensive
        cost = predict_cost(request, servable.features_per_example, shapes)
        return self._admitted_predict(request, servable, shapes, cost, ticket)

    def _checked_shapes(self, request) -> Dict[str, Tuple[int, ...]]:
        """Each input's shape, its values checked against it."""
        return {alias: tensors.check_values(proto, self.max_message_bytes, alias)
                for alias, proto in request.inputs.items()}

    def _admitted_predict(self, request, servable: Servable, shapes, cost: Cost,
                          ticket: Optional[Ticket] = None) -> predict_pb2.PredictResponse:
        with self.admission.admitted(cost, ticket):
            return self.log_request('predict', request,
                                    self.predict_on(servable, request, shapes))

    def predict_if_light(self, request: predict_pb2.PredictRequest
                         ) -> Optional[predict_pb2.PredictResponse]:
        """Predict, on the gRPC event loop, if the call is light there: no batching (a
        batch waits for others), at most INLINE_ELEMENTS once expanded, and a signature
        whose calls there take at most LOOP_SECONDS on average; None (nothing done) if
        not. One that cannot be resolved
        or is malformed is answered there: its error costs nothing."""
        if self._batcher is not None:
            return None
        started = time.perf_counter()
        servable = self.manager.get(request.model_spec)
        key = (servable.name, servable.version, _signature_name(request.model_spec))
        if not self._light_on_loop(key):     # before any work the pool would do again
            return None
        shapes = self._checked_shapes(request)
        cost = predict_cost(request, servable.features_per_example, shapes)
        if cost.elements > INLINE_ELEMENTS:
            return None
        response = self._admitted_predict(request, servable, shapes, cost)
        took = time.perf_counter() - started
        # An average of the last dozen calls, each counted at most 4 x LOOP_SECONDS: a
        # call the machine held up once does not send the signature to the pool.
        self._loop_seconds[key] = (0.9 * self._loop_seconds.get(key, 0.0)
                                   + 0.1 * min(took, 4 * LOOP_SECONDS))
        return response

    def _light_on_loop(self, key: Tuple[str, int, str]) -> bool:
        """Whether a signature's calls on the loop take at most LOOP_SECONDS on average.
        One a little past it (a busy spell) tries again there one call in 256, so that
        its average can come down; one far past it (a heavy model) stays on the pool."""
        took = self._loop_seconds.get(key, 0.0)
        if took <= LOOP_SECONDS:
            return True
        self._light_calls += 1
        return took < 3 * LOOP_SECONDS and self._light_calls % 256 == 0

    def predict_on(self, servable: Servable, request: predict_pb2.PredictRequest,
                   shapes: Optional[Dict[str, Tuple[int, ...]]] = None
                   ) -> predict_pb2.PredictResponse:
        """Predict against a servable already resolved (REST resolves it to read types);
        `shapes`, the inputs' as _checked_shapes gave them, if the caller checked them."""
        name = _signature_name(request.model_spec)
        signature = servable.signatures.get(name)
        if signature is None:
            raise failed_precondition(f'Serving signature key "{name}" not found.')
        inputs = self._predict_inputs(signature, request, shapes)
        aliases = self._output_aliases(signature, request.output_filter)
        outputs = self._run(servable, name, inputs, aliases, 'Predict')
        response = predict_pb2.PredictResponse()
        _set_model_spec(response.model_spec, servable, name)
        for alias in aliases:
            tensors.to_proto(outputs[alias], signature.outputs[alias], response.outputs[alias])
        return self._bounded(response)

    def _bounded(self, response):
        """The response, if it fits in --max_message_bytes; RESOURCE_EXHAUSTED if not."""
        size = response.ByteSize()
        if size > self.max_message_bytes:
            raise reply_too_large(size, self.max_message_bytes)
        return response

    def _check_outputs(self, outputs: Dict[str, np.ndarray]) -> None:
        """Refuses outputs whose reply cannot fit before any of it is built: each value
        takes at least a byte (a string its length)."""
        least = sum(sum(map(len, value.flat)) if value.dtype == object else value.size
                    for value in outputs.values())
        if least > self.max_message_bytes:
            raise reply_too_large(least, self.max_message_bytes, at_least=True)

    def _predict_inputs(self, signature: SignatureInfo, request,
                        shapes: Optional[Dict[str, Tuple[int, ...]]] = None
                        ) -> Dict[str, np.ndarray]:
        sent = request.inputs
        if len(sent) != len(signature.inputs) or any(a not in signature.inputs for a in sent):
            self._refuse_inputs(set(sent), set(signature.inputs))
        inputs = {}
        for index, alias in enumerate(signature.input_names):
            (dtype, dims), proto = signature.inputs[alias], sent[alias]
            if proto.dtype != dtype:
                raise invalid_argument(
                    f'Expects arg[{index}] to be {tensors.dtype_name(dtype)} but '
                    f'{tensors.dtype_name(proto.dtype)} is provided')
            value = tensors.to_ndarray(proto, self.max_message_bytes, alias,
                                       shapes[alias] if shapes else None)
            _check_shape(alias, dims, value)
            inputs[alias] = value
        return inputs

    @staticmethod
    def _refuse_inputs(sent: Set[str], expected: Set[str]) -> None:
        """TF Serving's INVALID_ARGUMENT for inputs that are not the signature's."""
        if len(sent) != len(expected):
            raise invalid_argument(
                f'input size does not match signature: {len(sent)}!={len(expected)} '
                f'len({{{",".join(sorted(sent))}}}) != len({{{",".join(sorted(expected))}}}). '
                f'Sent extra: {{{",".join(sorted(sent - expected))}}}. '
                f'Missing but required: {{{",".join(sorted(expected - sent))}}}.')
        for alias in sorted(sent - expected):
            raise invalid_argument(
                f'input tensor alias not found in signature: {alias}. '
                f'Inputs expected to be in the set {{{",".join(sorted(expected))}}}.')

    @staticmethod
    def _output_aliases(signature: SignatureInfo, output_filter) -> Sequence[str]:
        if not output_filter:
            return signature.output_names
        aliases = []
        for alias in output_filter:
            if alias not in signature.outputs:
                raise invalid_argument(
                    f'output tensor alias not found in signature: {alias} Outputs expected to '
                    f'be in the set {{{",".join(sorted(signature.outputs))}}}.')
            if alias in aliases:
                raise invalid_argument(f'duplicate output tensor alias: {alias}')
            aliases.append(alias)
        return aliases

    # --- Classify, Regress, MultiInference --------------------------------------

    def _examples_admitted(self, servable: Servable, request_input, ticket: Optional[Ticket]):
        """Admission of an Input's examples: the features the model parses from each,
        and their bytes with the context's repeated for each (at most
        --max_message_bytes; the Input's size stands for the examples')."""
        examples, context = _listed(request_input)
        examples_bytes(len(examples), len(context), request_input.ByteSize(),
                       self.max_message_bytes)
        return self.admission.admitted(
            examples_cost(len(examples), servable.features_per_example), ticket)

    def check_signature(self, servable: Servable, spec, api: str) -> None:
        """What Classify (api 'classify') or Regress checks of the signature, before the
        request's examples are built (REST builds them from JSON)."""
        if api == 'classify':
            self._classification_signature(servable, spec)
        else:
            self._regression_signature(servable, spec)

    def classify(self, request, servable: Optional[Servable] = None,
                 ticket: Optional[Ticket] = None) -> classification_pb2.ClassificationResponse:
        """Classify; the request is example_requests.ClassificationRequest (examples
        serialized)."""
        servable = servable or self.manager.get(request.model_spec)
        with self._examples_admitted(servable, request.input, ticket):
            return self.log_request('classify', request, self.classify_on(servable, request))

    def classify_on(self, servable: Servable, request) -> classification_pb2.ClassificationResponse:
        response = classification_pb2.ClassificationResponse()
        name = self._classify(servable, request.model_spec, request.input, response.result)
        _set_model_spec(response.model_spec, servable, name)
        return self._bounded(response)

    @staticmethod
    def _classification_signature(servable, spec):
        name, signature = _one_input_signature(servable, spec, 'inputs', 'classification')
        if len(signature.outputs) not in (1, 2):
            raise invalid_argument(
                f'Expected one or two output Tensors, found {len(signature.outputs)}: '
                f'signature "{name}" gives {{{_names(signature.outputs)}}}')
        wanted = [key for key in ('classes', 'scores') if key in signature.outputs]
        if not wanted:
            raise failed_precondition(
                'Expected classification signature outputs to contain at least one of '
                f'"classes" or "scores": signature "{name}" gives {{{_names(signature.outputs)}}}')
        return name, signature, wanted

    def _classify(self, servable, spec, request_input, result) -> str:
        name, signature, wanted = self._classification_signature(servable, spec)
        examples = _serialized_examples(request_input)
        outputs = self._run(servable, name, {'inputs': examples}, wanted, 'Classify')
        classes, scores = outputs.get('classes'), outputs.get('scores')
        for key, value, dtype in (('classes', classes, types_pb2.DT_STRING),
                                  ('scores', scores, types_pb2.DT_FLOAT)):
            if value is None:
                continue
            if value.ndim != 2:
                raise invalid_argument(
                    f'Expected Tensor shape: [batch_size num_classes] but got {list(value.shape)}')
            if signature.outputs[key].dtype != dtype:
                raise invalid_argument(
                    f'Expected {key} Tensor of {types_pb2.DataType.Name(dtype)}.')
            if len(value) != len(examples):
                raise invalid_argument(f'Expected {key} output batch size of {len(examples)}. '
                                       f'Got: {len(value)}')
        shaped = classes if classes is not None else scores
        assert shaped is not None      # one of the two, checked above
        num_classes = shaped.shape[1]
        for row in range(len(examples)):
            classifications = result.classifications.add()
            for column in range(num_classes):
                entry = classifications.classes.add()
                if classes is not None:
                    entry.label = classes[row, column].decode()
                if scores is not None:
                    entry.score = float(scores[row, column])
        return name

    def regress(self, request, servable: Optional[Servable] = None,
                ticket: Optional[Ticket] = None) -> regression_pb2.RegressionResponse:
        """Regress; the request is example_requests.RegressionRequest."""
        servable = servable or self.manager.get(request.model_spec)
        with self._examples_admitted(servable, request.input, ticket):
            return self.log_request('regress', request, self.regress_on(servable, request))

    def regress_on(self, servable: Servable, request) -> regression_pb2.RegressionResponse:
        response = regression_pb2.RegressionResponse()
        name = self._regress(servable, request.model_spec, request.input, response.result)
        _set_model_spec(response.model_spec, servable, name)
        return self._bounded(response)

    @staticmethod
    def _regression_signature(servable, spec):
        name, signature = _one_input_signature(servable, spec, 'inputs', 'regression')
        if len(signature.outputs) != 1:
            raise invalid_argument(f'Expected one output Tensor: signature "{name}" gives '
                                   f'{{{_names(signature.outputs)}}}')
        if 'outputs' not in signature.outputs:
            raise failed_precondition(f'No regression outputs found in SignatureDef "{name}": it '
                                      f'gives {{{_names(signature.outputs)}}}, not "outputs"')
        return name, signature

    def _regress(self, servable, spec, request_input, result) -> str:
        name, _ = self._regression_signature(servable, spec)
        examples = _serialized_examples(request_input)
        values = self._run(servable, name, {'inputs': examples}, ['outputs'], 'Regress')['outputs']
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1 or len(values) != len(examples):
            raise invalid_argument(f'Expected output Tensor shape to be either [batch_size] or '
                                   f'[batch_size, 1] but got {list(values.shape)}')
        for value in values:
            result.regressions.add(value=float(value))
        return name

    def multi_inference(self, request) -> inference_pb2.MultiInferenceResponse:
        """MultiInference; the request is example_requests.MultiInferenceRequest."""
        if not request.tasks:
            raise invalid_argument('Tasks is empty')
        first = request.tasks[0].model_spec
        seen = set()
        for task in request.tasks:
            if task.model_spec.name != first.name:
                raise invalid_argument(
                    'All ModelSpecs in a MultiInferenceRequest must access the same model name.')
            name = _signature_name(task.model_spec)
            if name in seen:
                raise invalid_argument(f'Duplicate evaluation of signature: {name}')
            seen.add(name)
        servable = self.manager.get(first)
        with self._examples_admitted(servable, request.input, None):
            response = self._multi_inference_on(servable, request)
        return self.log_request('multi_inference', request, response)

    def _multi_inference_on(self, servable: Servable, request
                            ) -> inference_pb2.MultiInferenceResponse:
        response = inference_pb2.MultiInferenceResponse()
        for task in request.tasks:
            result = response.results.add()
            if task.method_name == CLASSIFY_METHOD:
                name = self._classify(servable, task.model_spec, request.input,
                                      result.classification_result)
            elif task.method_name == REGRESS_METHOD:
                name = self._regress(servable, task.model_spec, request.input,
                                     result.regression_result)
            else:
                raise invalid_argument(f'Unsupported signature method_name: {task.method_name}')
            _set_model_spec(result.model_spec, servable, name)
        return self._bounded(response)

    # --- Metadata, status, config ------------------------------------------------

    def get_model_metadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest
                           ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        if not request.metadata_field:
            raise invalid_argument(
                'GetModelMetadataRequest must specify at least one metadata_field')
        for field in request.metadata_field:
            if field != 'signature_def':
                raise invalid_argument(f'Metadata field {field} is not supported')
        servable = self.manager.get(request.model_spec)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        _set_model_spec(response.model_spec, servable, None)
        signatures = get_model_metadata_pb2.SignatureDefMap()
        for key, signature in servable.signature_defs.items():
            signatures.signature_def[key].CopyFrom(signature)
        packed = any_pb2.Any()
        packed.Pack(signatures)
        response.metadata['signature_def'].CopyFrom(packed)
        return response

    def get_model_status(self, request: get_model_status_pb2.GetModelStatusRequest
                         ) -> get_model_status_pb2.GetModelStatusResponse:
        response = get_model_status_pb2.GetModelStatusResponse()
        states = get_model_status_pb2.ModelVersionStatus.State
        for version, state in self.manager.status(request.model_spec).items():
            status = response.model_version_status.add(version=version,
                                                        state=states.Value(state.state))
            status.status.SetInParent()   # OK unless the version failed, as in TF Serving
            if state.error is not None:
                status.status.error_code = state.error.code.value[0]
                status.status.error_message = state.error.message
        return response

    def reload_config(self, request: model_management_pb2.ReloadConfigRequest
                      ) -> model_management_pb2.ReloadConfigResponse:
        response = model_management_pb2.ReloadConfigResponse()
        try:
            self._reload_policy.check(request.config)
            self.manager.reload(request.config)
        except ServingError as error:
            response.status.error_code = error.code.value[0]
            response.status.error_message = error.message
            raise
        return response

    # --- Warmup -------------------------------------------------------------------

    def warm_up(self, servable: Servable) -> None:
        """Replays assets.extra/tf_serving_warmup_requests; any failure fails the load."""
        started = time.perf_counter()
        logs = read_warmup_requests(servable.path)
        for record in logs:
            kind = record.WhichOneof('log_type')
            if kind == 'predict_log':
                self.predict_on(servable, record.predict_log.request)
            elif kind == 'classify_log':
                self.classify_on(servable, example_requests.to_raw(
                    record.classify_log.request, example_requests.ClassificationRequest))
            elif kind == 'regress_log':
                self.regress_on(servable, example_requests.to_raw(
                    record.regress_log.request, example_requests.RegressionRequest))
            else:
                raise ServingError(grpc.StatusCode.UNIMPLEMENTED,
                                   f'Unsupported log_type for warmup: {kind}')
        if logs:
            self.metrics.observe(m.WARMUP_LATENCY, (time.perf_counter() - started) * 1e6,
                                 model_name=servable.name)
            log.info('Finished reading warmup data for model %s version %d: %d requests',
                     servable.name, servable.version, len(logs))
