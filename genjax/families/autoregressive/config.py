"""Defaults of the autoregressive family; experiments override a few fields."""
import ml_collections

from genjax.config import base_config


def default_config():
  c = base_config()
  c.family = "autoregressive"
  c.model.update(dict(
      # pixelcnn | gated_pixelcnn | pixelcnnpp | row_lstm | diagonal_bilstm
      name="pixelcnn",
      # bernoulli (binarised images) | categorical (256-way softmax per
      # sub-pixel) | logistic_mixture (PixelCNN++; implied by pixelcnnpp) |
      # codes (a prior over the codes of config.deps.vqvae: vq_prior.py)
      likelihood="bernoulli",
      image_shape=(28, 28, 1),
      num_classes=0,           # > 0: class-conditional (labels fed to the net)
      # The network's own fields (the module's dataclass attributes, e.g.
      # features, num_layers, dropout); unknown ones are refused by name.
      net=ml_collections.ConfigDict(),
      # Blocks recomputed in the backward pass instead of stored (Chen et al.
      # 2016): () or ('GatedResnet',) for pixelcnnpp. Memory, not maths.
      remat=(),
      # A prior over a VQ-VAE's codes (likelihood='codes', vq_prior.py): K and
      # the code map's (h, w); 0 and (): the dependency's, else checked.
      num_codes=0,
      code_shape=(),
  ))
  c.data.preprocess = ("binarize_dynamic",)
  c.sample.update(dict(
      temperature=1.0,         # logits (or the mixture's scales) divided by it
      cached=True,             # Gated PixelCNN: the row-cached fast generator
      completion_rows=-1,      # top rows given in the completion grids (-1: half)
  ))
  c.optim.update(lr=1e-3, grad_clip=1.0, ema_decay=0.0)
  c.eval.metrics = ("nll", "bpd")
  c.train.eval_metrics = ("nll",)
  return c
