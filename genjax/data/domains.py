"""Binary attributes measured on real digits: StarGAN's domains (issue 23).

No multi-domain digit set exists offline, so an image's domain is measured
on the image itself with the caption attributes (``captions.measure``):

- ``thickness`` (ink mass / stroke length, pixels): 'thick' above the
  median of the image's class, else 'thin';
- ``slant`` (columns right per row up): 'right' above the median of the
  image's class (the digit leans further right than its class's typical
  one), else 'left'.

Class-relative medians split every class in two halves per attribute, so
the domain says nothing of the class (a digit keeps its class when its
domain changes) and the four domains thin+left, thin+right, thick+left and
thick+right hold about a quarter of each class. ``MEDIANS`` come from the
60,000 MNIST training images (the code under it recomputes them).

``attribute_domain`` is the preprocessing op ``"attribute_domain()"``
(example fields 'image' in [0,255] and 'label'): float32 bits [K] per image,
one per attribute of ``ATTRIBUTES``; ``domain_bits`` the same on a numpy
batch (generated images scaled to [0,255], labels of their sources).
"""
import functools

import numpy as np

from genjax.data import captions
from genjax.data._tf import tf
from genjax.errors import ConfigError

# dataset -> the attributes, in bit order, and each one's words for 0 and 1.
ATTRIBUTES = {"mnist": ("thickness", "slant")}
WORDS = {"mnist": (("thin", "thick"), ("left", "right"))}
# dataset -> attribute -> its median per class 0..9 on the training set:
# np.median(captions.measure(train images)[name][labels == c]), rounded to 4
# decimals (compute_medians).
MEDIANS = {
    "mnist": {
        "thickness": (2.5826, 2.6707, 2.6156, 2.5816, 2.4796, 2.3758, 2.4122,
                      2.6004, 2.2377, 2.2947),
        "slant": (0.2096, 0.2125, 0.0951, 0.0472, 0.0518, 0.1963, 0.0261,
                  0.0273, 0.1747, 0.0052),
    },
}


def check_domain_dataset(dataset):
  if dataset not in ATTRIBUTES:
    raise ConfigError(
        f"Attribute domains are measured for the datasets {tuple(ATTRIBUTES)}, not "
        f"{dataset!r}; pass dataset='mnist'.")


def compute_medians(images, labels, dataset="mnist", batch_size=2000):
  """``MEDIANS[dataset]`` from training images uint8 [N,H,W,1] and labels."""
  labels = np.asarray(labels)
  values = {name: [] for name in ATTRIBUTES[dataset]}
  for start in range(0, len(images), batch_size):
    measured = captions.measure(images[start:start + batch_size], dataset)
    for name in values:
      values[name].append(np.asarray(measured[name]))
  return {name: tuple(round(float(np.median(np.concatenate(v)[labels == c])), 4)
                      for c in range(captions.NUM_CLASSES))
          for name, v in values.items()}


def _bits(image, label, dataset):
  """float32 bits [B, K] of a batch [B,H,W,C] ([0,255]) and labels [B]."""
  return _bits_graph(dataset)(tf.cast(image, tf.float32), tf.cast(label, tf.int32))


@functools.lru_cache(maxsize=None)
def _bits_graph(dataset):
  """``_measured_bits`` as one tf.function per dataset (traced once per input
  signature, not once per tf.data map or eval batch)."""
  return tf.function(functools.partial(_measured_bits, dataset=dataset), autograph=False)


def _measured_bits(image, label, dataset):
  measured = captions.measure(image, dataset)
  label = tf.reshape(tf.cast(label, tf.int32), [-1])
  bits = [tf.cast(measured[name] > tf.gather(tf.constant(MEDIANS[dataset][name],
                                                         tf.float32), label), tf.float32)
          for name in ATTRIBUTES[dataset]]
  return tf.stack(bits, axis=-1)


def attribute_domain(example, seed, dataset="mnist"):
  """The op ``"attribute_domain(dataset='mnist')"``: the domain bits [K]
  (or [B, K]) of ``example['image']`` and ``example['label']``."""
  del seed
  check_domain_dataset(dataset)
  image = tf.convert_to_tensor(example["image"])
  single = image.shape.rank == 3
  bits = _bits(image[None] if single else image, example["label"], dataset)
  return bits[0] if single else bits


def domain_bits(images, labels, dataset="mnist"):
  """numpy float32 bits [B, K] of images [B,H,W,C] in [0,255] with labels [B]."""
  return np.asarray(_bits(np.asarray(images, np.float32), np.asarray(labels), dataset))


def domain_names(words):
  """Every domain's name from each attribute's (word for 0, word for 1), in
  the order of its bits read as a binary number with the first attribute
  most significant: 'thin+left', 'thin+right', ... for ``WORDS['mnist']``."""
  return tuple("+".join(w[(i >> (len(words) - 1 - j)) & 1] for j, w in enumerate(words))
               for i in range(2 ** len(words)))
