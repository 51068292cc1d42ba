"""What both sides of benchmarks/peers.py share: batch sizes and the forward-check inputs (numpy only).

genjax_side.py (genjax's venv) and twins.py (the torch venv) both import it,
so the forward check feeds both networks the same numbers.
"""
import numpy as np

# The experiments' train batch sizes (DDIM samples a batch of the U-Net's).
BATCH = {"unet": 64, "ddim": 64, "dcgan": 32, "vae": 128}
CHECK_SEED = 0


def check_inputs(case, batch):
  """The forward check's NHWC float32 inputs of ``case``, drawn with CHECK_SEED.

  unet/ddim: x ~ N(0, 1) and t ~ U{0..999}; dcgan: images x ~ U(-1, 1) and
  latents z ~ N(0, 1) [batch, 100]; vae: x ~ Bernoulli(0.5) in {0, 1}.
  """
  rng = np.random.default_rng(CHECK_SEED)
  if case in ("unet", "ddim"):
    return {"x": rng.standard_normal((batch, 28, 28, 1)).astype(np.float32),
            "t": rng.integers(0, 1000, batch).astype(np.int32)}
  if case == "dcgan":
    return {"x": rng.uniform(-1, 1, (batch, 28, 28, 1)).astype(np.float32),
            "z": rng.standard_normal((batch, 100)).astype(np.float32)}
  if case == "vae":
    return {"x": (rng.uniform(size=(batch, 28, 28, 1)) < 0.5).astype(np.float32)}
  raise ValueError(f"unknown case {case!r}; cases: {', '.join(BATCH)}")


def train_batch(case, batch, seed=1):
  """A synthetic train batch {'image', 'label'} in the case's data range
  ([-1, 1] for unet/dcgan, binarised {0, 1} for vae): data loading is not timed."""
  rng = np.random.default_rng(seed)
  u = rng.uniform(size=(batch, 28, 28, 1)).astype(np.float32)
  image = (u < 0.5).astype(np.float32) if case == "vae" else 2 * u - 1
  return {"image": image, "label": rng.integers(0, 10, batch).astype(np.int32)}
