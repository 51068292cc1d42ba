"""Feature networks behind the sample-quality metrics, by name.

    net = load_feature_net("mnist")          # or "inception", "fashion_mnist"
    out = net.apply(net.params, quantize(images01))   # {"features": [B,D], "logits": [B,K]}

Names map to "module:attribute" loaders (imported on use, cached per process);
the types (``FeatureNet``, ``quantize``, the weight errors) are in
``feature_net.py``, which the nets import.
"""
import functools
import importlib

from genjax.errors import unknown_name
from genjax.eval.feature_net import (  # noqa: F401  (the names users import from here)
    BadWeights, FeatureNet, MissingWeights, quantize)

FEATURE_NETS = {
    "inception": "genjax.eval.inception:load_inception",
    "mnist": "genjax.eval.classifier:load_mnist",
    "fashion_mnist": "genjax.eval.classifier:load_fashion_mnist",
}


@functools.lru_cache(maxsize=None)
def load_feature_net(name: str) -> FeatureNet:
  if name not in FEATURE_NETS:
    raise unknown_name("feature network", name, FEATURE_NETS)
  module, attr = FEATURE_NETS[name].split(":")
  return getattr(importlib.import_module(module), attr)()
