"""Imports TensorFlow for the input pipeline only: quiet, and on the CPU.

Every module of ``genjax.data`` that needs TensorFlow imports it from here, so
the log level is set before TensorFlow is first imported and TensorFlow never
takes a GPU (JAX owns the accelerators; tf.data runs on the host).
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=g-import-not-at-top
import tensorflow as tf
import tensorflow_datasets as tfds  # Re-exported to genjax.data's modules.
# pylint: enable=g-import-not-at-top

try:
  tf.config.set_visible_devices([], "GPU")
except RuntimeError:  # TensorFlow's devices were already initialised.
  pass
