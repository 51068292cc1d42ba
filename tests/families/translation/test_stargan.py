"""StarGAN: the reference's parameter counts, its train step against eq. 8
written out directly (plain SGD), the gradient penalty by finite
differences, the domain bits measured on drawn strokes, and the start-up
errors."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.data import domains
from genjax.errors import ConfigError
from genjax.families.translation import stargan, star_domains
from genjax.families.translation.config import stargan_config
from genjax.families.translation.family import make_family
from genjax.nn.star_discriminator import StarDiscriminator
from genjax.nn.translation_generators import ResNetTranslator
from tests.families.gan.test_family import assert_same_trees
from tests.helpers import sgd_rates

LR = 0.01


def count(variables):
  return sum(int(np.prod(v.shape)) for v in jax.tree_util.tree_leaves(variables))


def reference_generator_count(c_dim=5, conv_dim=64, repeat_num=6):
  """The reference's Generator (yunjey/stargan model.py), layer by layer: bias-free
  convs, each followed by an affine InstanceNorm2d (2 x channels)."""
  conv = lambda k, cin, cout: k * k * cin * cout
  norm = lambda c: 2 * c
  n = conv(7, 3 + c_dim, conv_dim) + norm(conv_dim)
  d = conv_dim
  for _ in range(2):
    n += conv(4, d, 2 * d) + norm(2 * d)
    d *= 2
  n += repeat_num * 2 * (conv(3, d, d) + norm(d))
  for _ in range(2):
    n += conv(4, d, d // 2) + norm(d // 2)
    d //= 2
  return n + conv(7, d, 3)


def reference_discriminator_count(image_size=128, conv_dim=64, c_dim=5, repeat_num=6):
  """The reference's Discriminator: 4x4 convs with bias, then the bias-free heads."""
  n, d = 4 * 4 * 3 * conv_dim + conv_dim, conv_dim
  for _ in range(1, repeat_num):
    n += 4 * 4 * d * 2 * d + 2 * d
    d *= 2
  k = image_size // 2 ** repeat_num
  return n + 3 * 3 * d * 1 + k * k * d * c_dim


def test_reference_counts_are_the_published_architecture():
  # CelebA at 128 px, 5 attributes: the counts the reference prints.
  assert reference_generator_count() == 8_430_528
  assert reference_discriminator_count() == 44_762_048


def test_networks_have_the_reference_parameter_counts():
  g = ResNetTranslator(3, 6, 64, "instance_affine", False, padding="zeros",
                       resample_kernel=4, head_bias=False)
  x = jnp.zeros((1, 128, 128, 3 + 5))
  g_vars = jax.eval_shape(lambda: g.init(jax.random.PRNGKey(0), x))
  d_vars = jax.eval_shape(lambda: StarDiscriminator(5, 64, 6).init(
      jax.random.PRNGKey(0), jnp.zeros((1, 128, 128, 3))))
  assert count(g_vars) == reference_generator_count()
  assert count(d_vars) == reference_discriminator_count()


def test_discriminator_heads_shapes():
  src, cls = StarDiscriminator(3, 4, 2).apply(
      StarDiscriminator(3, 4, 2).init(jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1))),
      jnp.zeros((2, 28, 28, 1)))
  assert src.shape == (2, 7, 7, 1) and cls.shape == (2, 3)


def tiny_config(**model):
  c = stargan_config()
  c.model.update(dict(dict(
      source_key="image", target_key="image", image_shape=(8, 8, 1),
      source_shape=(8, 8, 1), ngf=2, n_blocks=1, ndf=2, d_layers=1, n_critic=2,
      lambda_gp=0.0), **model))
  c.optim.update(name="sgd", momentum=0.0, lr=LR)
  c.train.batch_size = 4
  return c


def tiny_batch():
  x = jnp.tanh(jax.random.normal(jax.random.PRNGKey(3), (4, 8, 8, 1)))
  bits = jnp.asarray([[1, 0], [0, 1], [1, 1], [0, 0]], jnp.float32)
  return {"image": x, "domain": bits, "label": jnp.zeros((4,), jnp.int32)}


def bce(logits, bits):
  p = jax.nn.sigmoid(logits)
  return -jnp.sum(bits * jnp.log(p) + (1 - bits) * jnp.log(1 - p)) / logits.shape[0]


def reference_step(nets, params, batch, orders, lam_cls=1.0, lam_rec=10.0):
  """Two reference iterations on chunks of 2 with targets = each chunk's
  domains in ``orders``; D on both, then G on the second (eq. 8, plain SGD)."""
  tile = lambda x, c: jnp.concatenate(
      [x, jnp.broadcast_to(c[:, None, None, :], x.shape[:3] + (c.shape[1],))], -1)
  g = lambda p, x, c: nets.generator.apply({"params": p}, tile(x, c))
  d = lambda p, x: nets.discriminator.apply({"params": p}, x)
  d_params, g_params = params["D"], params["G"]
  for i, order in enumerate(orders):
    x, c = batch["image"][2 * i:2 * i + 2], batch["domain"][2 * i:2 * i + 2]
    target = c[order]
    fake = g(g_params, x, target)

    def d_loss(p):
      (real_src, real_cls), (fake_src, _) = d(p, x), d(p, fake)
      return -jnp.mean(real_src) + jnp.mean(fake_src) + lam_cls * bce(real_cls, c)

    d_params = jax.tree_util.tree_map(lambda w, gr: w - LR * gr, d_params,
                                      jax.grad(d_loss)(d_params))

  def g_loss(p):
    fake = g(p, x, target)
    src, cls = d(d_params, fake)
    rec = g(p, fake, c)
    return (-jnp.mean(src) + lam_cls * bce(cls, target)
            + lam_rec * jnp.mean(jnp.abs(rec - x)))

  g_params = jax.tree_util.tree_map(lambda w, gr: w - LR * gr, g_params,
                                    jax.grad(g_loss)(g_params))
  return {"G": g_params, "D": d_params}


def test_train_step_is_n_critic_reference_iterations_on_chunks():
  fam = make_family(tiny_config())
  nets = fam.train_step.args[1]
  batch = tiny_batch()
  state = fam.init(jax.random.PRNGKey(0), batch)
  new, metrics = jax.jit(fam.train_step)(state, batch)
  assert int(new.step) == 1 and np.isfinite(float(metrics["d_loss"]))
  # each chunk's targets are its 2 domains in some order: one of the 4 runs
  step = jax.jit(lambda params, orders: reference_step(nets, params, batch, orders))
  candidates = [step(state.params, jnp.asarray(orders))
                for orders in itertools.product(((0, 1), (1, 0)), repeat=2)]
  matches = 0
  for expected in candidates:
    try:
      assert_same_trees(new.params, expected, rtol=1e-4, atol=1e-6)
      matches += 1
    except AssertionError:
      pass
  assert matches == 1


def test_critic_learning_rate_follows_the_step_counter():
  """D takes n_critic updates per step; optax counts a schedule in its own
  updates, so without stretching a decaying learning rate reaches 0 after
  decay_steps / n_critic steps. With SGD and a unit gradient each update is
  -lr(count): D's (k n_critic)-th update equals G's k-th, and G's follows
  the config (2 steps at lr, then linear to 0 at step 10)."""
  c = tiny_config(n_critic=4)
  c.train.batch_size = 8
  c.optim.update(schedule="linear", hold_steps=2, decay_steps=10)
  nets = make_family(c).train_step.args[1]
  g_rates, d_rates = sgd_rates(nets.optimizer, 10), sgd_rates(nets.d_optimizer, 40)
  np.testing.assert_allclose(d_rates[::4], g_rates, rtol=1e-6)
  expected = LR * np.clip((10 - np.arange(10)) / 8, 0, 1)
  np.testing.assert_allclose(g_rates, expected, rtol=1e-6, atol=1e-12)


def test_gradient_penalty_matches_finite_differences():
  """With fake = real, x_hat = real for any interpolation: L_gp = mean over
  images of (||d sum D_src(x) / dx|| - 1)^2, the gradient by central
  differences in float64."""
  fam = make_family(tiny_config(lambda_gp=10.0))
  nets = fam.train_step.args[1]
  s = fam.train_step.args[0]
  batch = tiny_batch()
  d_params = fam.init(jax.random.PRNGKey(1), batch).params["D"]
  x = batch["image"][:2]
  _, terms = stargan.critic_objective(s, nets, d_params, x, batch["domain"][:2], x,
                                      jax.random.PRNGKey(5))
  summed = jax.jit(lambda img: jnp.sum(nets.discriminator.apply({"params": d_params},
                                                                img[None])[0]))
  score = lambda img: float(summed(jnp.asarray(img, jnp.float32)))
  eps, penalties = 1e-2, []
  for img in np.asarray(x, np.float64):
    grad = np.zeros_like(img)
    for idx in np.ndindex(img.shape):
      up, down = img.copy(), img.copy()
      up[idx] += eps
      down[idx] -= eps
      grad[idx] = (score(up) - score(down)) / (2 * eps)
    penalties.append((np.linalg.norm(grad) - 1.0) ** 2)
  np.testing.assert_allclose(float(terms["gp"]), np.mean(penalties), rtol=2e-3)


def test_domain_classification_loss_is_summed_bce_over_batch():
  from genjax.families.translation import losses
  logits = jnp.asarray([[2.0, -1.0], [0.5, 3.0], [-2.0, 0.0]])
  bits = jnp.asarray([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
  expected = -sum(b * np.log(1 / (1 + np.exp(-l))) + (1 - b) * np.log(1 - 1 / (1 + np.exp(-l)))
                  for row_l, row_b in zip(np.asarray(logits), np.asarray(bits))
                  for l, b in zip(row_l, row_b)) / 3
  np.testing.assert_allclose(float(losses.domain_classification_loss(logits, bits)),
                             expected, rtol=1e-6)


def stroke(width, shear, size=28):
  """A vertical bar of ``width`` px, 16 rows, its columns shifted by
  ``shear`` px per row up (uint8 [H, W, 1])."""
  img = np.zeros((size, size, 1), np.uint8)
  for r in range(6, 22):
    centre = 14 + shear * (14 - r)
    left = int(round(centre - width / 2))
    img[r, left:left + width] = 255
  return img


def test_domain_bits_of_drawn_strokes():
  # class 1: thickness median 2.67 px, slant median 0.2125 columns per row
  images = np.stack([stroke(1, 0.0), stroke(5, 0.0), stroke(2, 0.5), stroke(5, -0.5)])
  bits = domains.domain_bits(images, np.ones(4, np.int64))
  np.testing.assert_array_equal(bits, [[0, 0], [1, 0], [0, 1], [1, 0]])


def test_domain_order_and_names():
  assert domains.domain_names(domains.WORDS["mnist"]) == (
      "thin+left", "thin+right", "thick+left", "thick+right")
  np.testing.assert_array_equal(star_domains.attribute_codes(2),
                                [[0, 0], [0, 1], [1, 0], [1, 1]])


def test_unknown_target_domain_lists_the_trained_ones():
  c = tiny_config()
  c.sample.domain = "bold+left"
  with pytest.raises(ConfigError, match="thick\\+right"):
    make_family(c)
  fam = make_family(tiny_config())
  state = fam.init(jax.random.PRNGKey(0), tiny_batch())
  bundle = {"trained": fam.trained(state, True), "deps": {}}
  with pytest.raises(ConfigError, match="thin\\+left"):
    fam.exports["translate"](bundle, tiny_batch()["image"], "italic")
  with pytest.raises(ConfigError, match="codes of width 2"):
    fam.exports["translate"](bundle, tiny_batch()["image"], jnp.ones((4, 3)))
  out = jax.jit(lambda b, x: fam.exports["translate"](b, x, "thick+left"))(
      bundle, tiny_batch()["image"])
  assert out.shape == (4, 8, 8, 1)


@pytest.mark.parametrize("change, message", [
    (dict(batch_size=5), "multiple"),
    (dict(image_shape=(12, 12, 1), source_shape=(12, 12, 1), d_layers=3), "divisible"),
    (dict(attributes=("a/b", "c/d")), "domain_measure"),
    (dict(domain_kind="labels"), "attributes, classes"),
    (dict(domain_kind="classes", num_domains=1), "at least 2"),
    (dict(domain_kind="classes", num_domains=3, domain_measure="cifar"), "fashion_mnist"),
    (dict(attributes=("thin", "left/right")), "two words"),
])
def test_startup_errors(change, message):
  c = tiny_config()
  if "batch_size" in change:
    c.train.batch_size = change.pop("batch_size")
  c.model.update(change)
  with pytest.raises(ConfigError, match=message):
    make_family(c)


def test_domain_field_must_fit_the_domain_kind():
  fam = make_family(tiny_config())
  batch = dict(tiny_batch(), domain=jnp.zeros((4, 3)))
  with pytest.raises(ConfigError, match="need 2 bits per image"):
    fam.init(jax.random.PRNGKey(0), batch)
  fam = make_family(tiny_config(domain_kind="classes", num_domains=3, domain_key="domain",
                                domain_measure=""))
  with pytest.raises(ConfigError, match="one class index per image"):
    fam.init(jax.random.PRNGKey(0), batch)


def test_class_domains_use_one_hot_codes_and_softmax_cross_entropy():
  """RaFD's kind: the class index's one-hot vector is G's code, D_cls's loss
  is -mean log softmax(logits)[class] (by hand), a step runs, and the
  domains are named by index."""
  c = tiny_config(domain_kind="classes", num_domains=3, domain_key="label",
                  domain_measure="")
  fam = make_family(c)
  nets = fam.train_step.args[1]
  labels = jnp.asarray([2, 0, 1, 2])
  np.testing.assert_array_equal(nets.domains.of_batch(labels),
                                np.eye(3)[np.asarray(labels)])
  logits = jnp.asarray([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
  codes = jnp.asarray([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
  p = np.exp(np.asarray(logits)) / np.exp(np.asarray(logits)).sum(-1, keepdims=True)
  np.testing.assert_allclose(float(nets.domains.classification_loss(logits, codes)),
                             -(np.log(p[0, 1]) + np.log(p[1, 0])) / 2, rtol=1e-6)
  assert nets.domains.names == ("0", "1", "2")
  batch = dict(tiny_batch(), label=labels)
  state = fam.init(jax.random.PRNGKey(0), batch)
  new, metrics = jax.jit(fam.train_step)(state, batch)
  assert int(new.step) == 1 and np.isfinite(float(metrics["d_cls"]))


def test_target_acc_measures_what_the_data_op_labels():
  """The eval metric's measure (a host callback inside jit, on images in
  [0, 1]) gives the data op's bits on real digits: each digit hits its own
  domain's code and misses the code with both bits flipped."""
  from genjax.data.sources import load_mnist_arrays
  images, labels = load_mnist_arrays()["test"]
  images, labels = images[:32], labels[:32]
  own = np.asarray(domains.attribute_domain({"image": images, "label": labels}, None))
  measure = star_domains.AttributeDomains(domains.WORDS["mnist"], "mnist")
  hits = jax.jit(measure.hits)
  x = jnp.asarray(images, jnp.float32) / 255.0
  all_right, share = hits(x, jnp.asarray(labels), jnp.asarray(own))
  assert bool(jnp.all(all_right)) and bool(jnp.all(share == 1))
  all_right, share = hits(x, jnp.asarray(labels), jnp.asarray(1 - own))
  assert not bool(jnp.any(all_right)) and bool(jnp.all(share == 0))
