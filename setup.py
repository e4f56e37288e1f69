"""Makes common, models, serving, pipeline, operations and runner importable: by
TFX's import-path references (preprocessing_fn=, run_fn=) and by Beam workers."""

from setuptools import setup

setup(
    name='tfx-taxi-pipeline',
    version='0.1.0',
    description='A production TFX pipeline for deep learning on the Chicago Taxi data.',
    packages=['common', 'models', 'serving', 'pipeline', 'operations', 'runner',
              'runner.commands'],
    package_data={'pipeline': ['profiles.yaml'], 'operations': ['templates/*.html']},
    python_requires='>=3.10,<3.11',
    entry_points={'console_scripts': ['taxi-pipeline = runner.cli:entry_point']},
)
