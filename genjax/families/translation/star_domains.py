"""StarGAN's two kinds of domain labels (``model.domain_kind``), as the
reference's two datasets have them:

- ``'attributes'`` (CelebA's): K binary attributes per image,
  batch[model.domain_key] float bits [B, K]; a domain is one value per
  attribute (2^K domains, named by ``model.attributes``' words joined by
  '+'); D_cls's loss is the binary cross-entropy summed over attributes;
  a translation hits its target when the attributes measured on it
  (``model.domain_measure``: a genjax.data.domains dataset) equal the
  target's.
- ``'classes'`` (RaFD's): one of ``model.num_domains`` classes per image,
  batch[model.domain_key] int [B] (e.g. 'label'), G's code its one-hot
  vector; D_cls's loss is the softmax cross-entropy; a translation hits
  its target when the classifier ``model.domain_measure`` (a feature net
  with logits, e.g. 'fashion_mnist') names the target class. Domains are
  named by their class index ('0', '1', ...).
"""
import dataclasses
from typing import Any, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from genjax.data import domains as domains_lib
from genjax.errors import ConfigError, check_choice
from genjax.eval.extract import fit_to_net
from genjax.eval.features import FEATURE_NETS, load_feature_net, quantize
from genjax.families.translation import losses

KINDS = ("attributes", "classes")


def attribute_codes(num_attributes):
  """Every domain's bits [2^K, K] in ``domains.domain_names`` order (row i
  is i in binary, the first attribute most significant)."""
  codes = np.arange(2 ** num_attributes)[:, None] >> np.arange(num_attributes)[::-1]
  return jnp.asarray(codes & 1, jnp.float32)


@dataclasses.dataclass(frozen=True)
class AttributeDomains:
  words: Tuple[Tuple[str, str], ...]
  measure: str          # genjax.data.domains dataset, or ''

  @property
  def width(self):
    return len(self.words)

  @property
  def names(self):
    return domains_lib.domain_names(self.words)

  @property
  def codes(self):
    return attribute_codes(self.width)

  def of_batch(self, field):
    return jnp.asarray(field, jnp.float32)

  def classification_loss(self, logits, codes):
    return losses.domain_classification_loss(logits, codes)

  def random_codes(self, rng, num):
    return jax.random.bernoulli(rng, 0.5, (num, self.width)).astype(jnp.float32)

  def hits(self, images01, labels, codes):
    """(all attributes right [B], share of attributes right [B])."""
    shape = jax.ShapeDtypeStruct(codes.shape, jnp.float32)
    measure = lambda x, y: domains_lib.domain_bits(np.asarray(x) * 255.0, y, self.measure)
    bits = jax.pure_callback(measure, shape, images01, labels, vmap_method="sequential")
    right = bits == codes
    return jnp.all(right, axis=-1), jnp.mean(right, axis=-1)

  def check(self):
    if not self.measure:
      return
    domains_lib.check_domain_dataset(self.measure)
    words = domains_lib.WORDS[self.measure]
    if tuple(self.words) != tuple(words):
      raise ConfigError(
          f"model.domain_measure={self.measure!r} measures the attributes {words}, but "
          f"model.attributes={self.words}: set model.attributes to "
          f"{tuple('/'.join(w) for w in words)} or model.domain_measure=''.")

  def describe(self):
    return (f"one word per attribute of model.attributes "
            f"({', '.join('/'.join(w) for w in self.words)}), joined by '+'")

  def describe_codes(self):
    return f"one bit per attribute: {', '.join('/'.join(w) for w in self.words)}"


@dataclasses.dataclass(frozen=True)
class ClassDomains:
  num: int
  measure: str          # a feature net with logits, or ''
  net: Any = None       # that net, loaded outside any jit (``domains_for``)

  @property
  def width(self):
    return self.num

  @property
  def names(self):
    return tuple(str(c) for c in range(self.num))

  @property
  def codes(self):
    return jnp.eye(self.num, dtype=jnp.float32)

  def of_batch(self, field):
    return jax.nn.one_hot(jnp.asarray(field, jnp.int32).reshape(-1), self.num)

  def classification_loss(self, logits, codes):
    """The reference's ``F.cross_entropy``: mean over the batch of -log
    softmax(logits)[target]."""
    return jnp.mean(optax.softmax_cross_entropy(logits, codes))

  def random_codes(self, rng, num):
    return jax.nn.one_hot(jax.random.randint(rng, (num,), 0, self.num), self.num)

  def hits(self, images01, labels, codes):
    """(the classifier names the target [B], the same [B])."""
    del labels
    images01 = fit_to_net(images01, self.net.input_shape)   # e.g. 32 px -> 28
    logits = self.net.apply(self.net.params, quantize(images01))["logits"]
    right = jnp.argmax(logits, -1) == jnp.argmax(codes, -1)
    return right, right.astype(jnp.float32)

  def check(self):
    if self.num < 2:
      raise ConfigError(
          f"model.num_domains={self.num}: StarGAN with domain_kind='classes' needs at "
          "least 2 classes (the data's number of classes, e.g. 10).")
    if self.measure:
      check_choice("feature network (model.domain_measure)", self.measure, FEATURE_NETS)

  def describe(self):
    return f"a class index 0..{self.num - 1} (model.num_domains={self.num})"

  def describe_codes(self):
    return f"the one-hot vector of a class 0..{self.num - 1}"


def domains_for(s):
  """The ``Settings``' domain kind as one of the classes above, checked (a
  class measure's classifier loaded here, outside any jit)."""
  kind = check_choice("StarGAN domain_kind", s.domain_kind, KINDS)
  if kind == "attributes":
    domains = AttributeDomains(s.attributes, s.domain_measure)
    domains.check()
    return domains
  domains = ClassDomains(s.num_domains, s.domain_measure)
  domains.check()
  if not s.domain_measure:
    return domains
  return dataclasses.replace(domains, net=load_feature_net(s.domain_measure))
