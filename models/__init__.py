"""Features, preprocessing_fn, the Keras model and the Trainer's run_fn."""
