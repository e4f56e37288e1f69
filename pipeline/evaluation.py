"""The Evaluator: TFMA's metrics, slices and blessing gates, and TFX's Evaluator
recording the overall slice's metrics on its ModelEvaluation artifact
(mlmd.OVERALL_METRICS), so that run listings show them without reading TFMA's files."""

import json
import os
from typing import Any, Dict, Optional

import tensorflow_model_analysis as tfma
from tensorflow.core.protobuf import saved_model_pb2
from tfx.components.evaluator import component, executor
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import path_utils, proto_utils

from models import features as f
from pipeline import tfma_hooks
from pipeline.mlmd import OVERALL_METRICS
from pipeline.one_pass_metrics import one_pass_metrics

SLICE_FEATURES = ('trip_start_hour', 'payment_type')
# The model's signature that gives TFMA the transformed label (models/trainer.py): the
# label alone, since TFMA splits all that a preprocessing function returns, example by
# example (TFMA's unbatching was 6.6 s of the Evaluator's 24 s at 10x, profiled).
LABEL_FUNCTION = 'transform_label'
OLD_LABEL_FUNCTION = 'transform_features'     # every transformed feature, label included

_METRICS = ('ExampleCount', 'Precision', 'Recall', 'BinaryAccuracy', 'Calibration',
            'ConfusionMatrixPlot', 'CalibrationPlot')
# AUC and AUC-PR on the confusion-matrix plot's 1,000 thresholds (TFMA's default
# for them is 10,000): one set of matrices serves all three, the Evaluator takes
# 1.2 s less here, and AUC moves by 3e-4, far inside the gates' margins.
_CURVE_CONFIG = json.dumps({'num_thresholds': 1000})


def eval_config(min_auc: float, max_auc_drop: float) -> tfma.EvalConfig:
    """AUC must reach min_auc and may fall at most max_auc_drop below the
    baseline (the last blessed model; ignored on the first run)."""
    # On the overall slice only: single-class slices (e.g. cash) have no AUC.
    auc = tfma.MetricConfig(
        class_name='AUC',
        config=_CURVE_CONFIG,
        per_slice_thresholds=[tfma.PerSliceMetricThreshold(
            slicing_specs=[tfma.SlicingSpec()],
            threshold=tfma.MetricThreshold(
                value_threshold=tfma.GenericValueThreshold(lower_bound={'value': min_auc}),
                change_threshold=tfma.GenericChangeThreshold(
                    direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                    absolute={'value': -max_auc_drop})))])
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(
            signature_name='serving_default',
            label_key=f.LABEL_XF,
            preprocessing_function_names=[LABEL_FUNCTION])],
        slicing_specs=[tfma.SlicingSpec()] + [
            tfma.SlicingSpec(feature_keys=[key]) for key in SLICE_FEATURES],
        # TFMA's metrics, computed by one combiner per model and slice (one_pass_metrics).
        metrics_specs=[tfma.MetricsSpec(metrics=one_pass_metrics(
            [auc, tfma.MetricConfig(class_name='AUCPrecisionRecall', config=_CURVE_CONFIG)]
            + [tfma.MetricConfig(class_name=name) for name in _METRICS]))])


def overall_metrics(evaluation_uri: str) -> Dict[str, float]:
    """The candidate's metrics on the overall slice; changes against the baseline
    (when there was one) as '<metric>_diff'."""
    found = {}
    for metrics in tfma.load_metrics(evaluation_uri):
        if metrics.slice_key.single_slice_keys:
            continue
        for entry in metrics.metric_keys_and_values:
            key = entry.key
            if key.model_name in ('', 'candidate') and entry.value.HasField('double_value'):
                name = f'{key.name}_diff' if key.is_diff else key.name
                found[name] = entry.value.double_value.value
    return found


def has_signature(model_dir: str, name: str) -> bool:
    """Whether the SavedModel in model_dir has the signature (read from its graph
    file, without loading it)."""
    saved_model = saved_model_pb2.SavedModel()
    with fileio.open(os.path.join(model_dir, 'saved_model.pb'), 'rb') as f:
        saved_model.ParseFromString(f.read())
    return any(name in graph.signature_def for graph in saved_model.meta_graphs)


def with_label_function_of(baseline_dir: str, exec_properties: Dict[str, Any]) -> Dict[str, Any]:
    """exec_properties whose eval config asks the models for the label the way the
    baseline can answer: TFX gives the baseline the candidate's model spec, and a
    model exported before transform_label (an older home, a rollback) has only
    transform_features."""
    if has_signature(baseline_dir, LABEL_FUNCTION):
        return exec_properties
    config = proto_utils.json_to_proto(
        exec_properties[standard_component_specs.EVAL_CONFIG_KEY], tfma.EvalConfig())
    for spec in config.model_specs:
        spec.preprocessing_function_names[:] = [OLD_LABEL_FUNCTION]
    return {**exec_properties,
            standard_component_specs.EVAL_CONFIG_KEY: proto_utils.proto_to_json(config)}


class Executor(executor.Executor):
    """TFX's Evaluator executor (asking an older baseline for the label the way it
    can answer); then the overall metrics on the evaluation artifact."""

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        baselines = input_dict.get(standard_component_specs.BASELINE_MODEL_KEY)
        if baselines:
            exec_properties = with_label_function_of(
                path_utils.serving_model_path(baselines[0].uri), exec_properties)
        super().Do(input_dict, output_dict, exec_properties)
        evaluation = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EVALUATION_KEY])
        evaluation.set_string_custom_property(
            OVERALL_METRICS, json.dumps(overall_metrics(evaluation.uri), sort_keys=True))


class Evaluator(component.Evaluator):
    """TFX's Evaluator with the executor above, slicing whole batches unless given a
    module of its own (TFX's module hooks: pipeline/tfma_hooks.py)."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(self, *args, module_file: Optional[str] = None,
                 module_path: Optional[str] = None, **kwargs):
        if not (module_file or module_path):
            module_path = tfma_hooks.MODULE
        super().__init__(*args, module_file=module_file, module_path=module_path, **kwargs)
