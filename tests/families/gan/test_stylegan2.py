"""StyleGAN2 (model.arch='stylegan2'): its papers' properties against
independent references, on tiny networks.

- config F's parameter counts (``jax.eval_shape``) against StyleGAN2-ADA's;
- shapes, the ws layout, demodulated convs vs the undemodulated toRGB;
- truncation in w (psi = 0 gives w_avg), style mixing (probability 0 and 1);
- lazy R1 and the path-length penalty by finite differences in float64;
- the start-up errors; pictures and exports; exact resume through the loop.

Variables come from ``random_variables`` (shapes by ``jax.eval_shape``,
values from numpy): the properties hold for any weights, and XLA:CPU then
compiles no initialisers.
"""
import dataclasses
import functools
import os
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import main
from genjax.errors import ConfigError
from genjax.families.gan import family, losses, steps, stylegan2, stylegan2_family
from genjax.families.gan.config import default_config
from genjax.families.gan.state import create_gan_state, with_path_length_mean
from tests.families.gan.test_family import assert_same_trees
from tests.helpers import load_config

B = 4


def tiny_config(image_shape=(8, 8, 1), **group):
  """StyleGAN2 of 8x8 images: channels min(32 / r, 4) (4 at 4x4 and 8x8), w
  of 4, one mapping layer, minibatch stddev in groups of 2; lazy R1 every 4."""
  c = default_config()
  c.model.update(arch="stylegan2", image_shape=image_shape, z_dim=3, penalty="r1",
                 penalty_weight=0.5, penalty_every=4)
  c.model.stylegan2.update(dict(dict(w_dim=4, mapping_layers=1, channel_base=32,
                                     channel_max=4, mbstd_group=2), **group))
  c.train.batch_size = B
  c.sample.update(grid_columns=2, grid_rows=2)
  return c


def tiny(image_shape=(8, 8, 1), **group):
  settings = family.read_settings(tiny_config(image_shape, **group))
  return settings, family.build_networks(settings)


def random_variables(module, *args, seed=0, dtype=jnp.float32, **kwargs):
  """Variables of ``module.init(key, *args, **kwargs)`` drawn by numpy:
  N(0, 1) weights (the equalised layers' stored scale), 0.3 N(0, 1) for
  every other leaf (biases, noise strengths, w_avg)."""
  shapes = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), *args, **kwargs))
  rs = np.random.RandomState(seed)
  fill = lambda s: jnp.asarray(rs.randn(*s.shape) * (1.0 if len(s.shape) > 1 else 0.3),
                               dtype)
  return jax.tree.map(fill, shapes)


def latents(num=B, z_dim=3, seed=1, dtype=jnp.float32):
  return jnp.asarray(np.random.RandomState(seed).randn(num, z_dim), dtype)


def g_variables(nets, seed=0, dtype=jnp.float32):
  return random_variables(nets.generator, latents(dtype=dtype), None, train=False,
                          seed=seed, dtype=dtype)


def d_variables(nets, shape, seed=0, dtype=jnp.float32):
  return random_variables(nets.discriminator, jnp.zeros((B,) + shape, dtype), None,
                          train=False, seed=seed, dtype=dtype)


# --------------------------------------------------------------------------
# Config F's size.

# StyleGAN2-ADA's training loop prints each network's module summary
# (torch_utils/misc.print_module_summary). For --cfg=stylegan2 (config F:
# channel_base 32768, channel_max 512, 8 mapping layers) at 1024x1024 its D
# totals 29,012,513 (the summary's own line; rows checked below: b1024.conv0
# 9,248, b64.conv0 2,359,808, b4.conv 2,364,416, b4.fc 4,194,816, b4.out 513);
# its G with a 2-layer mapping (--cfg=auto) totals 28,794,124, so with 8
# layers of 262,656 (mapping.fc*) G is 30,370,060. The published "30.0M" /
# "29.0M" (issue 22) are these rounded down; the paper gives no exact count.
CONFIG_F_G_PARAMS = 28_794_124 + 6 * 262_656
CONFIG_F_D_PARAMS = 29_012_513


def _size(tree):
  return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree))


def test_config_f_has_the_reference_parameter_counts():
  config = load_config("experiments/gan/stylegan2_ffhq_configf.py", arg=None)
  fam = family.make_family(config)
  batch = {"image": jax.ShapeDtypeStruct((2, 1024, 1024, 3), jnp.float32)}
  state = jax.eval_shape(fam.init, jax.random.PRNGKey(0), batch)
  assert CONFIG_F_G_PARAMS == 30_370_060
  assert _size(state.g_params) == CONFIG_F_G_PARAMS
  assert _size(state.d_params) == CONFIG_F_D_PARAMS
  g, d = state.g_params, state.d_params
  assert _size(g["mapping"]["fc0"]) == 262_656
  assert _size(g["synthesis"]["b1024"]["conv0"]) == 51_297       # its summary's rows
  assert _size(g["synthesis"]["b128"]["torgb"]) == 132_099
  assert _size(d["b1024"]["conv0"]) == 9_248 and _size(d["b64"]["conv0"]) == 2_359_808
  assert [_size(d["b4"][k]) for k in ("conv", "fc", "out")] == [2_364_416, 4_194_816, 513]
  assert stylegan2.num_ws(1024) == 18


# --------------------------------------------------------------------------
# Shapes and the papers' properties of the networks.


@functools.lru_cache(maxsize=None)
def programs(style_mixing):
  """The tiny 8x8 G with this mixing probability, random variables and its
  jitted passes (each compiled once for the tests that share them):
  styles(v, z, psi) in evaluation mode (psi traced), train_styles(v, z, key)
  -> (ws, new w_avg) of a training pass, synthesize(v, ws)."""
  settings, nets = tiny(style_mixing=style_mixing)
  G = nets.generator

  def train_styles(v, z, key):
    ws, new = G.apply(v, z, None, True, rngs={"mixing": key}, mutable=["w_avg"],
                      method="styles")
    return ws, new["w_avg"]["w_avg"]
  return types.SimpleNamespace(
      settings=settings, nets=nets, variables=g_variables(nets),
      styles=jax.jit(lambda v, z, psi: G.apply(v, z, None, False, psi, method="styles")),
      train_styles=jax.jit(train_styles),
      synthesize=jax.jit(lambda v, ws: G.apply(v, ws, method="synthesize")))


def test_conditional_generator_and_discriminator_shapes():
  """ws [B, 2 log2 R - 2, w_dim], images [B, R, R, C], scores [B]; the label
  enters G's mapping and D's projection."""
  shape = (16, 16, 3)
  G, D = stylegan2.make_networks(shape, 5, tiny(shape)[0].stylegan2)
  labels = jnp.arange(B, dtype=jnp.int32) % 5
  gv = random_variables(G, latents(), labels, train=False)
  dv = random_variables(D, jnp.zeros((B,) + shape), labels, train=False)
  run = jax.jit(lambda y: (G.apply(gv, latents(), y, method="styles"),
                           G.apply(gv, latents(), y, train=False)))
  score = jax.jit(lambda x, y: D.apply(dv, x, y))
  ws, images = run(labels)
  assert ws.shape == (B, stylegan2.num_ws(16), 4) == (B, 6, 4)
  assert images.shape == (B,) + shape and score(images, labels).shape == (B,)
  assert set(gv) == {"params", "w_avg"} and set(dv) == {"params"} and "mapping" in dv["params"]
  other = (labels + 1) % 5   # another label changes G's image and D's score
  assert not np.allclose(run(other)[1], images)
  assert not np.allclose(score(images, other), score(images, labels))


def test_block_layout_and_style_ranges():
  assert [stylegan2.block_ws(k) for k in range(3)] == [(0, 2), (1, 3), (3, 3)]
  assert stylegan2.block_resolutions(32) == [4, 8, 16, 32]
  assert stylegan2.style_ranges(1024) == ((0, 4), (4, 8), (8, 18))    # StyleGAN fig. 3
  assert stylegan2.style_ranges(32) == ((0, 4), (4, 6), (6, 8))
  assert stylegan2.style_ranges(16) == ((0, 2), (2, 4), (4, 6))
  assert stylegan2.style_ranges(8) is None
  assert [stylegan2.channels_at(r, 32768, 512) for r in (4, 64, 128, 1024)] == [512, 512, 256, 32]


def _scaled(variables, block, layer, factor):
  """``variables`` with the style affine of ``layer`` in ``block`` scaled by factor."""
  params = jax.tree.map(lambda a: a, variables["params"])
  affine = params["synthesis"][block][layer]["conv"]["affine"]
  params["synthesis"][block][layer]["conv"]["affine"] = jax.tree.map(
      lambda a: a * factor, affine)
  return dict(variables, params=params)


def test_convs_are_demodulated_and_torgb_is_not():
  """Scaling a conv's styles leaves its output unchanged (eq. 3 divides the
  scale out), scaling toRGB's scales its contribution to the image."""
  p = programs(1.0)
  gv = p.variables
  ws = p.styles(gv, latents(), 1.0)
  base = p.synthesize(gv, ws)
  assert ws.shape == (B, 4, 4) and base.shape == (B, 8, 8, 1)
  for block, layer in (("b4", "conv1"), ("b8", "conv0"), ("b8", "conv1")):
    np.testing.assert_allclose(p.synthesize(_scaled(gv, block, layer, 3.0), ws), base,
                               rtol=1e-4, atol=1e-5)
  # The image is upsample(toRGB_4) + toRGB_8: toRGB_8's conv part (styles 0:
  # its bias alone) triples.
  tripled = p.synthesize(_scaled(gv, "b8", "torgb", 3.0), ws)
  unstyled = p.synthesize(_scaled(gv, "b8", "torgb", 0.0), ws)
  np.testing.assert_allclose(tripled - base, 2.0 * (base - unstyled), rtol=1e-4, atol=1e-5)
  assert float(jnp.max(jnp.abs(tripled - base))) > 1e-2


def test_psi_zero_truncation_gives_w_avg_for_every_sample():
  p = programs(1.0)
  gv = p.variables
  w_avg = gv["w_avg"]["w_avg"]
  assert float(jnp.max(jnp.abs(w_avg))) > 0
  ws = p.styles(gv, latents(), 0.0)
  np.testing.assert_allclose(ws, jnp.broadcast_to(w_avg, ws.shape), rtol=1e-6)
  half, full = p.styles(gv, latents(), 0.5), p.styles(gv, latents(), 1.0)
  np.testing.assert_allclose(half, w_avg + 0.5 * (full - w_avg), rtol=1e-5, atol=1e-6)
  # Every sample at psi = 0 is the same image (the noise is the fixed one).
  images = p.synthesize(gv, ws)
  np.testing.assert_allclose(images, jnp.broadcast_to(images[:1], images.shape), atol=1e-6)


def test_w_avg_moves_in_training_passes():
  """w_avg <- mean(w) + 0.995 (w_avg - mean(w)), w the mapping's output."""
  p = programs(0.0)
  gv = p.variables
  ws, new = p.train_styles(gv, latents(), jax.random.PRNGKey(0))
  old, mean = np.asarray(gv["w_avg"]["w_avg"]), np.asarray(ws[:, 0]).mean(0)
  np.testing.assert_allclose(new, mean + 0.995 * (old - mean), rtol=1e-5)


def test_style_mixing_probability_zero_is_no_mixing_and_one_crosses_over():
  keys = jax.random.split(jax.random.PRNGKey(0), 200)
  cutoffs = jax.jit(jax.vmap(stylegan2.mixing_cutoff, in_axes=(0, None, None)),
                    static_argnums=1)
  assert set(np.asarray(cutoffs(keys, 6, 0.0)).tolist()) == {6}
  assert set(np.asarray(cutoffs(keys, 6, 1.0)).tolist()) == {1, 2, 3, 4, 5}   # uniform
  ws, ws2 = jnp.zeros((2, 6, 3)), jnp.ones((2, 6, 3))
  np.testing.assert_array_equal(stylegan2.mix_styles(ws, ws2, 2)[0, :, 0], [0, 0, 1, 1, 1, 1])
  np.testing.assert_array_equal(stylegan2.mix_styles(ws, ws2, 6), ws)

  for prob in (0.0, 1.0):
    p = programs(prob)
    plain = np.asarray(p.styles(p.variables, latents(), 1.0))
    mixed = np.asarray(p.train_styles(p.variables, latents(), jax.random.PRNGKey(3))[0])
    if prob == 0.0:
      np.testing.assert_allclose(mixed, plain, rtol=1e-6, atol=1e-6)
      continue
    same = np.all(np.isclose(mixed, plain, rtol=1e-6, atol=1e-6), axis=(0, 2))   # per layer
    cutoff = int(np.sum(same))
    assert 1 <= cutoff < plain.shape[1] and np.all(same[:cutoff])
    assert not np.any(np.isclose(mixed[:, cutoff:], plain[:, cutoff:]))
    np.testing.assert_allclose(mixed[:, cutoff:], np.broadcast_to(
        mixed[:, -1:], mixed[:, cutoff:].shape))             # one second latent's w


# --------------------------------------------------------------------------
# The regularisers, by finite differences in float64.


def _fd(f, x, h=1e-5):
  """d f / d x by central differences, f: array -> scalar, all coordinates at once."""
  flat = np.asarray(x, np.float64).reshape(-1)
  eye = np.eye(flat.size) * h
  points = jnp.asarray(np.concatenate([flat + eye, flat - eye]).reshape((-1,) + x.shape))
  values = np.asarray(jax.jit(jax.vmap(f))(points))
  return ((values[:flat.size] - values[flat.size:]) / (2 * h)).reshape(x.shape)


def test_lazy_r1_every_k_steps_times_k_has_the_penaltys_expectation_float64():
  """Over k = 4 D steps the lazy term is w k R1 on the first and 0 on the
  others: its mean is w R1 (the penalty taken every step), R1 = E||grad_x
  D||^2 with the input gradients by central differences; the lazy term's
  gradient in D's parameters (double backprop) matches differences too."""
  with jax.enable_x64(True):
    settings, nets = tiny()
    shape = settings.image_shape
    dv = d_variables(nets, shape, dtype=jnp.float64)
    rs = np.random.RandomState(2)
    images = jnp.asarray(rs.uniform(-1, 1, (2 * B,) + shape), jnp.float64)
    plain = dataclasses.replace(settings, penalty="none")
    objective = lambda s, params, d_iter: steps.discriminator_objective(
        s, nets, params, {}, images, None, jax.random.PRNGKey(0), d_iter)[0]
    lazy_term = jax.jit(lambda params, d_iter: objective(settings, params, d_iter)
                        - objective(plain, params, d_iter))

    params, k, w = dv["params"], settings.penalty_every, settings.penalty_weight
    lazy = [float(lazy_term(params, i)) for i in range(k)]
    d_sum = lambda x: jnp.sum(nets.discriminator.apply(dv, x))
    r1 = np.mean(np.sum(_fd(d_sum, images[:B]).reshape(B, -1) ** 2, axis=1))
    np.testing.assert_allclose(lazy[1:], 0.0, atol=1e-12)
    np.testing.assert_allclose(lazy[0], w * k * r1, rtol=1e-6)
    np.testing.assert_allclose(np.mean(lazy), w * r1, rtol=1e-6)

    # d (lazy term) / d (the epilogue's dense bias): autodiff vs differences.
    with_bias = lambda b: dict(params, b4=dict(params["b4"], fc=dict(
        params["b4"]["fc"], bias=b)))
    term = lambda b: lazy_term(with_bias(b), 0)
    bias = params["b4"]["fc"]["bias"]
    np.testing.assert_allclose(jax.jit(jax.grad(term))(bias), _fd(term, bias, 1e-6),
                               rtol=1e-5, atol=1e-9)


def test_path_length_penalty_against_finite_difference_jacobian_float64():
  """||J_w^T y|| of the synthesis network: <y, G(w)> differentiated in every
  coordinate of ws by central differences; then a and the penalty of eq. 4."""
  with jax.enable_x64(True):
    _, nets = tiny()
    gv = g_variables(nets, dtype=jnp.float64)
    ws = jnp.asarray(np.random.RandomState(5).randn(2, 4, 4))      # [B, num_ws, w_dim]
    synthesize = lambda w: nets.generator.apply(gv, w, method="synthesize")
    rng = jax.random.PRNGKey(7)
    y = losses.path_length_noise(rng, (2, 8, 8, 1), jnp.float64)
    np.testing.assert_allclose(np.std(np.asarray(y)) * 8, 1.0, rtol=0.3)   # N(0, I) / sqrt(HW)
    # sum_b <y_b, G(ws_b)>: its gradient in ws_b is J_b^T y_b (samples are independent).
    grads = _fd(lambda w: jnp.sum(y * synthesize(w)), ws)
    want = np.sqrt(np.mean(np.sum(grads ** 2, axis=2), axis=1))
    lengths = jax.jit(lambda w: losses.path_lengths(synthesize, w, rng))(ws)
    np.testing.assert_allclose(lengths, want, rtol=1e-6)
    penalty, a = losses.path_length_penalty(lengths, 0.3, 0.01)
    a_want = 0.3 + 0.01 * (want.mean() - 0.3)
    np.testing.assert_allclose(a, a_want, rtol=1e-9)
    np.testing.assert_allclose(penalty, np.mean((want - a_want) ** 2), rtol=1e-6)


def test_generator_objective_adds_the_lazy_path_length_term():
  """total = G's loss + pl_weight * pl_interval * penalty on the steps where
  it is due, with the new a; G's loss and a unchanged otherwise."""
  settings, nets = tiny(pl_interval=4, pl_weight=2.0)
  gv, dv = g_variables(nets), d_variables(nets, settings.image_shape)
  objective = jax.jit(functools.partial(stylegan2_family.generator_objective, settings,
                                        nets))
  for due in (True, False):
    total, (new_stats, loss, penalty, a) = objective(
        gv["params"], {"w_avg": gv["w_avg"]}, dv["params"], {}, latents(), None,
        jax.random.PRNGKey(1), 0.0, jnp.float32(0.5), jnp.asarray(due))
    if due:
      assert float(penalty) > 0 and float(a) != 0.5
      np.testing.assert_allclose(total, loss + 2.0 * 4 * penalty, rtol=1e-6)
    else:
      assert float(penalty) == 0 and float(a) == 0.5 and float(total) == float(loss)
    assert not np.allclose(new_stats["w_avg"]["w_avg"], gv["w_avg"]["w_avg"])


# --------------------------------------------------------------------------
# Bad input: one paragraph at start-up.


@pytest.mark.parametrize("shape", [(28, 28, 1), (24, 24, 1), (32, 16, 1), (4, 4, 1)])
def test_a_resolution_not_4_times_a_power_of_two_is_refused(shape):
  with pytest.raises(ConfigError, match=r"4 \* 2\^k"):
    family.make_family(tiny_config(shape))


@pytest.mark.parametrize("field,value,match", [
    ("sample.w_truncation", 1.5, "sample.w_truncation.*psi"),
    ("sample.w_truncation", -0.1, "sample.w_truncation.*psi"),
    ("sample.w_truncation_grid", (1.0, 2.0), "w_truncation_grid"),
    ("model.stylegan2.style_mixing", 1.1, "style_mixing.*probability"),
    ("model.stylegan2.style_mixing", -0.5, "style_mixing.*probability"),
    ("sample.truncation", 0.7, "BigGAN's truncation of z"),
    ("model.spectral_norm", True, "spectral norm"),
    ("model.stylegan2.pl_batch_shrink", 8, "no latents for the path-length"),
    ("model.stylegan2.mapping_layers", 0, "mapping_layers must be >= 1"),
])
def test_bad_settings_are_start_up_errors(field, value, match):
  c = tiny_config()
  parent, name = field.rsplit(".", 1)
  node = c
  for part in parent.split("."):
    node = node[part]
  node[name] = value
  with pytest.raises(ConfigError, match=match):
    family.make_family(c)


def test_other_architectures_read_no_stylegan2_settings():
  assert family.read_settings(default_config()).stylegan2 is None


# --------------------------------------------------------------------------
# Samples, pictures, exports.


def test_sample_grids_and_exports():
  settings, nets = tiny((16, 16, 1))
  gv, dv = g_variables(nets), d_variables(nets, (16, 16, 1))
  fam = family.make_family(tiny_config((16, 16, 1)))
  state = with_path_length_mean(create_gan_state(
      jax.random.PRNGKey(0), gv, dv, nets.g_optimizer, nets.d_optimizer))
  images = jax.jit(fam.sample, static_argnums=2)(state, jax.random.PRNGKey(1), 3)
  assert images.shape == (3, 16, 16, 1) and float(images.min()) >= 0.0
  grids = jax.jit(fam.image_grids)(state, None, jax.random.PRNGKey(2))
  assert {k: v.shape[:2] for k, v in grids.items()} == {
      "truncation": (4, 2), "style_mixing": (5, 2), "interpolation": (2, 2)}
  # style mixing rows: A, B, then A with B's coarse (4-8), middle (16) and fine styles
  mixing = np.asarray(grids["style_mixing"])
  assert all(not np.allclose(mixing[i], mixing[j]) for i, j in ((0, 1), (2, 0), (3, 0), (4, 0)))
  truncation = np.asarray(grids["truncation"])      # psi 1, 0.7, 0.5, 0: the last row is
  np.testing.assert_allclose(truncation[3], truncation[3, :1].repeat(2, 0), atol=1e-6)  # w_avg's
  bundle = {"trained": fam.trained(state, True), "deps": {}}
  assert bundle["trained"]["g_stats"] is state.g_stats   # the EMA G keeps G's w_avg

  def exports(bundle, z):
    ws = fam.exports["styles"](bundle, z)
    return fam.exports["synthesize"](bundle, ws), fam.exports["generate"](bundle, z)
  via_ws, generated = jax.jit(exports)(bundle, latents(2))
  np.testing.assert_allclose(via_ws, generated, atol=1e-6)
  assert fam.model == "stylegan2" and fam.exports["z_dim"]() == 3
  del settings


# --------------------------------------------------------------------------
# Resume exactness through the loop.


def _run_config(num_steps):
  c = tiny_config((8, 8, 1), pl_interval=2)
  c.model.update(penalty_every=2, augment="ada", ada_target=0.2, ada_interval=1,
                 ada_kimg=1, ada_ops=("xflip",))
  c.data.update(name="lfw_subset", preprocess=("resize(8)", "scale_pm1"),
                shuffle_buffer=100)
  c.train.update(batch_size=B, num_steps=num_steps, log_every=100, ckpt_every=100,
                 sample_every=0, eval_metrics=())
  c.optim.update(lr=0.01, d_lr=0.01, b1=0.0, b2=0.99)
  c.sample.update(num=4, w_truncation_grid=(0.5,))
  c.lock()
  return c


def _trained(workdir, *num_steps):
  """The state after training ``workdir`` to each length in turn (resuming)."""
  for num in num_steps:
    state = main.run(_run_config(num), workdir, "train")
  return jax.device_get(state)


@pytest.mark.slow
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path):
  """4 steps in one run, and 2 then 2 more after a restart from the step-2
  checkpoint (R1 and the path-length term on steps 0 and 2, ADA's p moving
  every step), end bitwise equal: w_avg, a, p, both players, G's EMA."""
  uninterrupted = _trained(str(tmp_path / "whole"), 4)
  resumed = _trained(str(tmp_path / "parts"), 2, 4)
  assert int(resumed.step) == 4 and float(uninterrupted.ada_p) > 0
  assert float(uninterrupted.pl_mean) > 0
  assert float(np.abs(uninterrupted.g_stats["w_avg"]["w_avg"]).max()) > 0
  assert_same_trees(uninterrupted, resumed, rtol=0, atol=0)
  for grid in ("truncation", "interpolation"):   # (8x8: too few blocks to mix)
    assert os.path.exists(os.path.join(tmp_path, "whole", "samples", f"{grid}_step_4.png"))


def test_the_stylegan2_group_is_part_of_stylegan2_runs_identity_only():
  """Adding model.stylegan2 keeps older runs of the other GANs resumable."""
  from genjax.config import identity, to_plain
  dcgan, older = to_plain(default_config()), to_plain(default_config())
  del older["model"]["stylegan2"]
  assert identity(dcgan) == identity(older)
  a, b = to_plain(tiny_config()), to_plain(tiny_config(w_dim=8))
  assert identity(a)["model"]["stylegan2"]["w_dim"] == 4 and identity(a) != identity(b)
