"""Resume equality beyond the VAE and the GANs: interrupted at step 2 and
resumed to 4 ends with the whole state (params, optimiser, EMA, step, RNG,
model state) of an uninterrupted 4-step run, for the autoregressive family
(Gated PixelCNN; PixelCNN++ with weight norm's data-dependent init on the
first batch and PixelRNN, marked slow) and the diffusion family (DDPM;
classifier-free guidance's label dropout, slow). The other kinds have theirs
beside their family's tests (VQ-VAE, KL-AE, GAN, ProGAN, StyleGAN2, CycleGAN)
and a consumer of other runs in tests/train/test_deps.py."""
import pytest

from genjax import main
from tests.helpers import load_config
from tests.train.test_resume import _params, assert_same_state

CASES = [
    pytest.param("experiments/autoregressive/gated_pixelcnn_mnist.py",
                 id="gated_pixelcnn_mnist"),
    pytest.param("experiments/diffusion/ddpm_mnist.py", id="ddpm_mnist"),
    pytest.param("experiments/autoregressive/pixelcnnpp_mnist.py", id="pixelcnnpp_mnist",
                 marks=pytest.mark.slow),   # ~45 s: three compiles of its large graph
    pytest.param("experiments/autoregressive/pixelrnn_rowlstm_mnist.py",
                 id="pixelrnn_rowlstm_mnist", marks=pytest.mark.slow),
    pytest.param("experiments/diffusion/cfg_mnist.py", id="cfg_mnist",
                 marks=pytest.mark.slow),
]


def _config(path, num_steps):
  c = load_config(path)
  c.unlock()
  c.train.update(num_steps=num_steps, ckpt_every=2, log_every=2, eval_every=0,
                 sample_every=0, eval_metrics=())
  c.optim.update(decay_steps=40, warmup_steps=1)
  c.lock()
  return c


@pytest.mark.parametrize("path", CASES)
def test_interrupted_and_resumed_equals_uninterrupted(path, tmp_path):
  whole, parts = str(tmp_path / "whole"), str(tmp_path / "parts")
  main.run(_config(path, 4), whole, "train")
  main.run(_config(path, 2), parts, "train")
  main.run(_config(path, 4), parts, "train")
  sa, a = _params(whole, _config(path, 4))
  sb, b = _params(parts, _config(path, 4))
  assert sa == sb == 4
  assert_same_state(a, b)
