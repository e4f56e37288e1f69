"""The Evaluator: TFMA's metrics, slices and blessing gates, and TFX's Evaluator
recording the overall slice's metrics on its ModelEvaluation artifact
(mlmd.OVERALL_METRICS), so that run listings show them without reading TFMA's files."""

import json
from typing import Dict

import tensorflow_model_analysis as tfma
from tfx.components.evaluator import component, executor
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact_utils, standard_component_specs

from models import features as f
from pipeline.mlmd import OVERALL_METRICS
from pipeline.one_pass_metrics import one_pass_metrics

SLICE_FEATURES = ('trip_start_hour', 'payment_type')
# The model's signature that gives TFMA the transformed label (models/trainer.py): the
# label alone, since TFMA splits all that a preprocessing function returns, example by
# example (TFMA's unbatching was 6.6 s of the Evaluator's 24 s at 10x, profiled).
LABEL_FUNCTION = 'transform_label'

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


class Executor(executor.Executor):
    """TFX's Evaluator executor; then the overall metrics on the evaluation artifact."""

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        super().Do(input_dict, output_dict, exec_properties)
        evaluation = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EVALUATION_KEY])
        evaluation.set_string_custom_property(
            OVERALL_METRICS, json.dumps(overall_metrics(evaluation.uri), sort_keys=True))


class Evaluator(component.Evaluator):
    """TFX's Evaluator with the executor above."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
