"""What every layer may use, and that imports nothing else of this project:
process set-up before TensorFlow loads, TF Serving's on-disk conventions, and
tf.Examples from Python values."""
