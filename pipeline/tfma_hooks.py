"""The Evaluator's module (TFX's module_path): the hooks TFX's Evaluator executor looks
up in it, custom_extractors and custom_eval_shared_model.

Extractors: TFMA's, slicing whole batches (pipeline/batched_slicing.py). Models:
TFMA's, whose one-input signatures also take that input positionally. TFMA calls a
signature with serialized examples as `signature(examples)`, and TensorFlow first
tries the signature's keyword-only structure, failing with an error message that
formats every serialized example of the batch, before it falls back to the flat
call: 19 s of the Evaluator's 46 s at 100x the taxi data (py-spy, one process).
"""

import functools
from collections.abc import Mapping
from typing import Any, Callable, Iterator, List, Optional

import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.api import types
from tensorflow_model_analysis.extractors import extractor
from tensorflow_model_analysis.utils import model_util

from pipeline.batched_slicing import with_batched_slicing

MODULE = __name__


class KeywordSignature:
    """A signature with one input that takes it positionally too, by its name."""

    def __init__(self, function: Any, input_name: str):
        self._function, self._input_name = function, input_name

    def __call__(self, *args, **kwargs):
        if args:
            [value] = args
            kwargs = {self._input_name: value, **kwargs}
        return self._function(**kwargs)

    def __getattr__(self, name: str) -> Any:
        if name == '_function':         # not set yet (copying, unpickling)
            raise AttributeError(name)
        return getattr(self._function, name)


def keyword_signature(function: Any) -> Any:
    """The signature as a KeywordSignature when it has exactly one input."""
    inputs: Any = (function.structured_input_signature or ((), {}))[1]
    if isinstance(inputs, dict) and len(inputs) == 1:
        return KeywordSignature(function, next(iter(inputs)))
    return function


class KeywordSignatures(Mapping):
    """A loaded model's signatures, each through keyword_signature."""

    def __init__(self, signatures: Mapping):
        self._signatures = signatures

    def __getitem__(self, name: str) -> Any:
        return keyword_signature(self._signatures[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self._signatures)

    def __len__(self) -> int:
        return len(self._signatures)


class KeywordModel:
    """A loaded SavedModel whose signatures take their one input positionally."""

    def __init__(self, model: Any):
        self._model = model
        self.signatures = KeywordSignatures(model.signatures)

    def __getattr__(self, name: str) -> Any:
        if name == '_model':            # not set yet (copying, unpickling)
            raise AttributeError(name)
        return getattr(self._model, name)


def _load_keyword_model(construct_fn: Callable[[], Any]) -> Any:
    """The model TFMA's loader gives, as a KeywordModel when TFMA calls it through its
    signatures only (a Keras model, which TFMA may call itself, stays as it is)."""
    model = construct_fn()
    if not hasattr(model, 'signatures') or model_util.is_callable_fn(model):
        return model
    return KeywordModel(model)


def custom_eval_shared_model(eval_saved_model_path: str, model_name: str, eval_config,
                             **kwargs) -> types.EvalSharedModel:
    """TFMA's shared model for the path, loaded as a KeywordModel."""
    model = tfma.default_eval_shared_model(eval_saved_model_path=eval_saved_model_path,
                                           model_name=model_name, eval_config=eval_config,
                                           **kwargs)
    loader = model.model_loader
    if loader is None:
        return model
    return model._replace(model_loader=types.ModelLoader(
        construct_fn=functools.partial(_load_keyword_model, loader.construct_fn),
        tags=loader.tags))


def custom_extractors(eval_shared_model, eval_config: Optional[tfma.EvalConfig],
                      tensor_adapter_config) -> Optional[List[extractor.Extractor]]:
    """TFMA's default extractors, slicing whole batches where that gives the same
    results; None (TFX's defaults) for a legacy config without an EvalConfig."""
    if eval_config is None:
        return None
    extractors = tfma.default_extractors(eval_shared_model=eval_shared_model,
                                         eval_config=eval_config,
                                         tensor_adapter_config=tensor_adapter_config)
    models = model_util.verify_and_update_eval_shared_models(eval_shared_model) or []
    return with_batched_slicing(extractors, eval_config, models)
