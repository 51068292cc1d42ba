"""The inputs of the stored Inception reference (inception_reference.json),
shared by ``scripts/inception_reference.py`` (torch) and the tests (genjax)."""
import numpy as np


def reference_inputs():
  """Float32 NHWC integer levels: two 32x32 RGB, one 299x299 RGB, one 28x28 grey."""
  rs = np.random.RandomState(0)
  small = rs.randint(0, 256, (2, 32, 32, 3)).astype(np.float32)
  big = rs.randint(0, 256, (1, 299, 299, 3)).astype(np.float32)
  grey = rs.randint(0, 256, (1, 28, 28, 1)).astype(np.float32)
  return {"small": small, "big": big, "grey": grey}
