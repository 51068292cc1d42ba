"""Tiny stand-ins for a feature net and a family, for evaluator tests."""
import jax
import jax.numpy as jnp

from genjax.eval.features import FeatureNet
from genjax.families.base import Family


def fake_net(identity="fake-v1", shape=(28, 28, 1), classes=10):
  """Features: 16 scaled pixels + the mean; logits: nearest of 10 brightness levels."""
  def apply(params, levels):
    x = levels.reshape(levels.shape[0], -1) / 255.0
    mean = jnp.mean(x, axis=1, keepdims=True)
    feats = x[:, :16] * params["w"] + mean
    logits = -jnp.square(mean - jnp.arange(classes) / classes) * 1e3
    return {"features": feats, "logits": logits}
  return FeatureNet("fake", identity, {"w": jnp.float32(2.0)}, apply, 16,
                    classes, shape)


def toy_sample(state, rng, num, cond=None):
  """Images of brightness label/10 (+ noise); class 0..9 cycling if unconditional."""
  level = (jnp.arange(num) % 10 if cond is None else cond["label"]) / 10.0
  noise = jax.random.uniform(rng, (num, 28, 28, 1)) * 0.05
  return level[:, None, None, None] + noise


def toy_family(num_classes=None):
  nop = lambda *a, **k: None
  return Family(family="toy", model="toy", init=nop, train_step=nop,
                eval_metrics={"elbo": nop}, sample=toy_sample,
                num_classes=num_classes)
