"""Small domain classifiers for 28x28x1 images: the feature nets of FID-MNIST.

One CNN architecture (``Classifier``) is trained per dataset by
``scripts/train_feature_nets.py`` and shipped with the package as
``genjax/eval/weights/<name>_classifier.msgpack`` (flax msgpack of
``{"params": ..., "batch_stats": ...}``, float32), next to a
``<name>_classifier.json`` with its test accuracy and the command that made
it. ``load_mnist`` / ``load_fashion_mnist`` wrap them as ``FeatureNet``s:

    net = load_feature_net("mnist")
    out = net.apply(net.params, quantize(images01))
    out["features"]  # [B, 128] float32: the penultimate (post-ReLU) layer
    out["logits"]    # [B, 10] float32

The net takes integer levels 0..255 (float32, NHWC [B,28,28,1]) and divides
them by 255 itself; it always runs in eval mode (BatchNorm running stats, no
dropout). The identity is ``"<name>-classifier/sha256:<16 hex>"``, the first
16 hex digits of the weight file's sha256, so statistics computed with other
weights are refused.
"""
import hashlib
import pathlib

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import serialization

from genjax.errors import ConfigError
from genjax.eval.feature_net import BadWeights, FeatureNet, MissingWeights

WEIGHTS_DIR = pathlib.Path(__file__).resolve().parent / "weights"
INPUT_SHAPE = (28, 28, 1)
FEATURE_DIM = 128
NUM_CLASSES = 10
DATASETS = ("mnist", "fashion_mnist")


class Classifier(nn.Module):
  """conv32-pool-conv64-pool-conv128-pool (3x3, BatchNorm, ReLU), dense 128, dense 10.

  Input: [B,28,28,1] float in [0,1]. Returns (features [B,128], logits [B,10]).
  About 356k parameters.
  """
  widths: tuple = (32, 64, 128)
  feature_dim: int = FEATURE_DIM
  num_classes: int = NUM_CLASSES
  dropout: float = 0.3

  @nn.compact
  def __call__(self, x, *, train: bool = False):
    for width in self.widths:
      x = nn.Conv(width, (3, 3), padding="SAME", use_bias=False)(x)
      x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
      x = nn.relu(x)
      x = nn.max_pool(x, (2, 2), strides=(2, 2), padding="SAME")
    x = x.reshape((x.shape[0], -1))  # 28 -> 14 -> 7 -> 4: [B, 4*4*128]
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    features = nn.relu(nn.Dense(self.feature_dim)(x))
    h = nn.Dropout(self.dropout, deterministic=not train)(features)
    logits = nn.Dense(self.num_classes)(h)
    return features, logits


def init_variables(rng, model=None):
  """Fresh {"params", "batch_stats"} of ``Classifier`` (float32)."""
  model = model or Classifier()
  return model.init(rng, jnp.zeros((1,) + INPUT_SHAPE, jnp.float32),
                    train=False)


def _template():
  """The variables' structure (abstract arrays) without computing them."""
  return jax.eval_shape(init_variables, jax.random.PRNGKey(0))


def weights_path(name):
  return WEIGHTS_DIR / f"{name}_classifier.msgpack"


def train_command(name):
  return f"python scripts/train_feature_nets.py --dataset {name}"


def identity_of(name, data: bytes):
  return f"{name}-classifier/sha256:{hashlib.sha256(data).hexdigest()[:16]}"


def variables_from_bytes(data: bytes, source="the weight file"):
  """Restores {"params", "batch_stats"} from msgpack bytes, checking shapes."""
  template = _template()
  try:
    restored = serialization.msgpack_restore(data)
    variables = serialization.from_state_dict(template, restored)
  except Exception as e:  # Corrupt file or another architecture.
    raise BadWeights(
        f"Could not read the classifier weights from {source}: {e}. Retrain "
        "them with scripts/train_feature_nets.py.") from e
  for (path, want), got in zip(jax.tree_util.tree_leaves_with_path(template),
                               jax.tree_util.tree_leaves(variables)):
    if tuple(got.shape) != tuple(want.shape):
      raise BadWeights(
          f"The classifier weights in {source} do not fit the architecture: "
          f"{jax.tree_util.keystr(path)} has shape {tuple(got.shape)}, "
          f"expected {tuple(want.shape)}. Retrain them with "
          "scripts/train_feature_nets.py.")
  return jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32),
                                variables)


def variables_to_bytes(variables) -> bytes:
  variables = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32),
                                     variables)
  return serialization.to_bytes(
      {"params": variables["params"], "batch_stats": variables["batch_stats"]})


def _apply_fn():
  model = Classifier()

  def apply(variables, levels):
    levels = jnp.asarray(levels)
    if levels.ndim != 4 or tuple(levels.shape[1:]) != INPUT_SHAPE:
      raise ConfigError(
          f"The MNIST-domain classifiers take images of shape [B, 28, 28, 1]; "
          f"got {tuple(levels.shape)}. Use the inception feature net for "
          "other image sizes.")
    x = levels.astype(jnp.float32) / 255.0
    features, logits = model.apply(variables, x, train=False)
    return {"features": features.astype(jnp.float32),
            "logits": logits.astype(jnp.float32)}

  return jax.jit(apply)


def load_classifier(name) -> FeatureNet:
  """The shipped classifier of dataset ``name`` as a FeatureNet."""
  if name not in DATASETS:
    raise ConfigError(
        f"No classifier for {name!r}; there are classifiers for "
        f"{', '.join(DATASETS)}.")
  path = weights_path(name)
  if not path.is_file():
    raise MissingWeights(
        f"The {name} classifier's weights {path} are missing. They ship with "
        f"genjax; recreate them with `{train_command(name)}` (a few minutes "
        "on a CPU).")
  data = path.read_bytes()
  return FeatureNet(
      name=name,
      identity=identity_of(name, data),
      params=variables_from_bytes(data, source=str(path)),
      apply=_apply_fn(),
      feature_dim=FEATURE_DIM,
      num_classes=NUM_CLASSES,
      input_shape=INPUT_SHAPE,
  )


def load_mnist() -> FeatureNet:
  return load_classifier("mnist")


def load_fashion_mnist() -> FeatureNet:
  return load_classifier("fashion_mnist")
