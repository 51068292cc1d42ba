"""StyleGAN (model.arch='stylegan'): its paper's properties against
independent references, on tiny networks.

- the 1024x1024 FFHQ networks' parameter counts against the paper's and a
  count written out from the reference's variables;
- AdaIN: every channel of a layer's output has the style's mean and scale;
- the learned constant, shared by the batch; the ws layout;
- psi = 0 gives w_avg (and one image) for every sample; the cutoff;
- the up- and down-convs against the reference's separate nearest / blur /
  average-pool operations; the 'orig' D's structure;
- start-up errors; perceptual path length through the exports vs a loop.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.signal import convolve2d, correlate2d

from genjax.errors import ConfigError
from genjax.eval import ppl
from genjax.families.gan import family, stylegan, stylegan2
from genjax.families.gan.config import default_config
from genjax.nn.resample import resample_conv2d
from tests.families.gan.test_stylegan2 import B, _size, latents, random_variables
from tests.families.gan.test_stylegan2 import tiny_config as stylegan2_tiny_config


def tiny_config(image_shape=(8, 8, 1), **group):
  """StyleGAN2's tiny config (8x8, 4 channels, w of 4, one mapping layer,
  minibatch stddev in groups of 2, R1) as a StyleGAN: the 'orig' D and no
  path-length term."""
  c = stylegan2_tiny_config(image_shape, **dict(dict(d_architecture="orig",
                                                     pl_weight=0.0), **group))
  c.model.arch = "stylegan"
  return c


def tiny(image_shape=(8, 8, 1), **group):
  settings = family.read_settings(tiny_config(image_shape, **group))
  return settings, family.build_networks(settings)


# --------------------------------------------------------------------------
# The FFHQ networks' size.

# Established from the reference (NVlabs/stylegan, training/networks_stylegan.py:
# G_mapping, G_synthesis with structure 'fixed', D_basic; fmap_base 8192, so
# channels nf(log2 r - 1) = min(16384 / r, 512)) by listing each layer's
# trainable variables: a synthesis layer has its conv weight k*k*in*out, a
# noise weight [out], a bias [out] and a style dense 512 x 2out + 2out; the
# 4x4 block has the constant [512, 4, 4] in place of the first conv. The
# totals round to the paper's figures: "26.2M trainable parameters"
# (sec. 2, its generator); 23.1M is ProGAN's D (Karras et al. 2018, Table 2),
# which StyleGAN's D is.


def reference_counts(resolution=1024, w_dim=512, mapping_layers=8):
  nf = lambda r: min(16384 // r, 512)
  layer = lambda k, cin, cout: k * k * cin * cout + 2 * cout + w_dim * 2 * cout + 2 * cout
  g = mapping_layers * (w_dim * w_dim + w_dim) + 512 * 16 + (2 * 512 + w_dim * 1024 + 1024)
  g += layer(3, 512, 512)                                    # 4x4: Const, Conv
  res = [2 ** k for k in range(3, int(np.log2(resolution)) + 1)]
  for r in res:                                              # Conv0_up, Conv1
    g += layer(3, nf(r // 2), nf(r)) + layer(3, nf(r), nf(r))
  g += nf(resolution) * 3 + 3                                # ToRGB
  conv = lambda k, cin, cout: k * k * cin * cout + cout
  d = conv(1, 3, nf(resolution))                             # FromRGB
  for r in res:                                              # Conv0, Conv1_down
    d += conv(3, nf(r), nf(r)) + conv(3, nf(r), nf(r // 2))
  d += conv(3, 513, 512) + 512 * 16 * 512 + 512 + 512 + 1    # Conv, Dense0, Dense1
  return g, d


def test_ffhq_networks_have_the_reference_parameter_counts():
  c = default_config()
  c.model.update(arch="stylegan", image_shape=(1024, 1024, 3), z_dim=512, penalty="r1",
                 penalty_weight=5.0)
  c.model.stylegan2.update(channel_base=16384, d_architecture="orig", pl_weight=0.0)
  fam = family.make_family(c)
  batch = {"image": jax.ShapeDtypeStruct((2, 1024, 1024, 3), jnp.float32)}
  state = jax.eval_shape(fam.init, jax.random.PRNGKey(0), batch)
  g, d = _size(state.g_params), _size(state.d_params)
  assert (g, d) == reference_counts() == (26_212_019, 23_077_137)
  assert round(g / 1e6, 1) == 26.2 and round(d / 1e6, 1) == 23.1
  assert stylegan2.num_ws(1024) == 18


# --------------------------------------------------------------------------
# The synthesis network.


@functools.lru_cache(maxsize=None)
def programs(image_shape=(8, 8, 1), cutoff=0):
  settings, nets = tiny(image_shape)
  G = nets.generator.clone(truncation_cutoff=cutoff)
  return (settings, G, random_variables(G, latents(), None, train=False),
          jax.jit(lambda v, z, psi: G.apply(v, z, None, False, psi, method="styles")),
          jax.jit(lambda v, ws: G.apply(v, ws, method="synthesize")))


def test_adain_gives_each_channel_the_styles_mean_and_scale():
  """A layer's output, per sample and channel, has spatial mean y_b and
  standard deviation |y_s|, y = A(w) (eq. 1): A's effective weights are the
  stored ones / sqrt(w_dim) (gain 1), y_s = 1 + y[:C], y_b = y[C:]."""
  layer = stylegan.LayerEpilogue(0)
  rs = np.random.RandomState(0)
  x, w = jnp.asarray(rs.randn(B, 8, 8, 5)), jnp.asarray(rs.randn(B, 4))
  v = random_variables(layer, x, w)
  out = np.asarray(jax.jit(layer.apply)(v, x, w))
  style = v["params"]["adain"]["style"]
  y = np.asarray(w) @ (np.asarray(style["kernel"]) / 2.0) + np.asarray(style["bias"])
  np.testing.assert_allclose(out.mean(axis=(1, 2)), y[:, 5:], atol=1e-5)
  np.testing.assert_allclose(out.std(axis=(1, 2)), np.abs(1.0 + y[:, :5]), rtol=1e-4)


def test_the_constant_input_is_one_learned_parameter_shared_by_the_batch():
  """It is a parameter (initialised to ones); the gradient of the batch's
  summed output in it is the sum of the samples' gradients."""
  _, G, gv, styles, _ = programs()
  init = jax.jit(lambda: G.init(jax.random.PRNGKey(0), latents(), None, train=False))()
  const = init["params"]["synthesis"]["b4"]["const"]
  assert const.shape == (4, 4, 4) and np.all(np.asarray(const) == 1.0)
  ws = styles(gv, latents(), 1.0)

  def grad(ws):
    def total(c):
      params = dict(gv["params"], synthesis=dict(gv["params"]["synthesis"], b4=dict(
          gv["params"]["synthesis"]["b4"], const=c)))
      return jnp.sum(G.apply(dict(gv, params=params), ws, method="synthesize"))
    return jax.grad(total)(gv["params"]["synthesis"]["b4"]["const"])
  grad = jax.jit(grad)
  whole = grad(ws)
  assert float(jnp.max(jnp.abs(whole))) > 0
  np.testing.assert_allclose(whole, grad(ws[:2]) + grad(ws[2:]), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("res", [8, 16])
def test_every_layer_reads_its_own_w_and_there_are_2_log2_r_minus_2(res):
  _, G, gv, styles, synthesize = programs((res, res, 1))
  ws = styles(gv, latents(), 1.0)
  assert ws.shape == (B, 2 * int(np.log2(res)) - 2, 4) == (B, stylegan2.num_ws(res), 4)
  base = synthesize(gv, ws)
  assert base.shape == (B, res, res, 1)
  for i in range(ws.shape[1]):
    moved = synthesize(gv, ws.at[:, i].add(1.0))
    assert not np.allclose(moved, base), i


def test_psi_zero_gives_w_avg_and_one_image_for_every_sample():
  _, _, gv, styles, synthesize = programs()
  w_avg = gv["w_avg"]["w_avg"]
  ws = styles(gv, latents(), 0.0)
  np.testing.assert_allclose(ws, jnp.broadcast_to(w_avg, ws.shape), rtol=1e-6)
  images = np.asarray(synthesize(gv, ws))
  np.testing.assert_allclose(images, np.broadcast_to(images[:1], images.shape), atol=1e-5)
  assert not np.allclose(synthesize(gv, styles(gv, latents(), 1.0)), images)


def test_truncation_cutoff_leaves_the_layers_from_it_untouched():
  _, _, gv, styles, _ = programs(cutoff=2)
  w_avg = gv["w_avg"]["w_avg"]
  plain, ws = styles(gv, latents(), 1.0), styles(gv, latents(), 0.5)
  np.testing.assert_allclose(ws[:, :2], w_avg + 0.5 * (plain[:, :2] - w_avg), rtol=1e-5,
                             atol=1e-6)
  np.testing.assert_allclose(ws[:, 2:], plain[:, 2:], rtol=1e-6)


BLUR = np.outer([1, 2, 1], [1, 2, 1]) / 16.0   # the reference's blur2d filter


def test_up_conv_is_nearest_upsampling_conv_and_blur_away_from_the_borders():
  """G's up-conv (EqualConv up=2, [1,3,3,1]) = the reference's upscale2d
  (nearest), conv 3x3, blur [1,2,1], written with scipy."""
  rs = np.random.RandomState(0)
  x, k = rs.randn(1, 16, 16, 1), rs.randn(3, 3, 1, 1)
  up = np.repeat(np.repeat(x[0, :, :, 0], 2, 0), 2, 1)
  want = convolve2d(correlate2d(up, k[:, :, 0, 0], mode="same"), BLUR, mode="same")
  got = np.asarray(resample_conv2d(jnp.asarray(x, jnp.float32),
                                   jnp.asarray(k, jnp.float32), up=2))[0, :, :, 0]
  np.testing.assert_allclose(got[3:-3, 3:-3], want[3:-3, 3:-3], atol=1e-5)


def test_orig_down_conv_is_blur_conv_and_average_pool_away_from_the_borders():
  """D's down-conv (EqualConv down=2) = D_basic's blur, conv 3x3, 2x2 average pool."""
  rs = np.random.RandomState(1)
  x, k = rs.randn(1, 16, 16, 1), rs.randn(3, 3, 1, 1)
  want = correlate2d(convolve2d(x[0, :, :, 0], BLUR, mode="same"), k[:, :, 0, 0], mode="same")
  want = want.reshape(8, 2, 8, 2).mean(axis=(1, 3))
  got = np.asarray(resample_conv2d(jnp.asarray(x, jnp.float32),
                                   jnp.asarray(k, jnp.float32), down=2))[0, :, :, 0]
  np.testing.assert_allclose(got[2:-2, 2:-2], want[2:-2, 2:-2], atol=1e-5)


def test_orig_discriminator_has_no_skips_and_fromrgb_only_at_the_top():
  shape = (16, 16, 1)
  _, nets = tiny(shape)
  dv = random_variables(nets.discriminator, jnp.zeros((B,) + shape), None, train=False)
  p = dv["params"]
  assert sorted(p) == ["b16", "b4", "b8"]
  assert sorted(p["b16"]) == ["conv0", "conv1", "fromrgb"] and sorted(p["b8"]) == ["conv0", "conv1"]
  assert sorted(p["b4"]) == ["conv", "fc", "out"]
  assert p["b16"]["conv1"]["kernel"].shape == (3, 3, 2, 4)   # 16x16 (2 ch) -> 8x8 (4 ch)
  assert p["b4"]["conv"]["kernel"].shape == (3, 3, 5, 4)          # + the stddev map
  assert p["b4"]["fc"]["kernel"].shape == (64, 4)
  x = jnp.asarray(np.random.RandomState(0).uniform(-1, 1, (B,) + shape), jnp.float32)
  assert jax.jit(nets.discriminator.apply)(dv, x).shape == (B,)
  resnet = tiny(shape, d_architecture="resnet")[1].discriminator
  rv = random_variables(resnet, jnp.zeros((B,) + shape), None, train=False)
  assert "skip" in rv["params"]["b16"] and _size(rv) > _size(dv)


# --------------------------------------------------------------------------
# Bad input.


def test_an_unknown_d_architecture_is_refused_listing_the_valid_ones():
  with pytest.raises(ConfigError, match="'skips'.*orig.*resnet|'skips'.*resnet.*orig"):
    family.make_family(tiny_config(d_architecture="skips"))


@pytest.mark.parametrize("shape", [(28, 28, 1), (24, 24, 1), (4, 4, 1)])
def test_a_resolution_not_4_times_a_power_of_two_is_refused(shape):
  with pytest.raises(ConfigError, match=r"model.arch='stylegan' .*4 \* 2\^k"):
    family.make_family(tiny_config(shape))


def test_a_negative_truncation_cutoff_is_refused():
  c = tiny_config()
  c.sample.w_truncation_cutoff = -1
  with pytest.raises(ConfigError, match="w_truncation_cutoff must be >= 0"):
    family.make_family(c)


# --------------------------------------------------------------------------
# Perceptual path length through the family's exports.


def test_path_distances_of_a_batch_equal_a_loop_over_single_paths_float64():
  """``ppl.batch_distances`` (both ends of every path in one call) against
  the definition per path: map z0 and z1, interpolate at t and t + eps,
  synthesise each image alone, distance of a linear feature map / eps^2
  (float64: in float32 this random tiny network's quotients at eps 1e-4
  differ by a few % between batched and single-image convolutions)."""
  with jax.enable_x64(True):
    fam = family.make_family(tiny_config())
    _, G, _, _, _ = programs()
    gv = random_variables(G, latents(dtype=jnp.float64), None, train=False,
                          dtype=jnp.float64)
    bundle = {"trained": {"g_params": gv["params"], "g_stats": {"w_avg": gv["w_avg"]}},
              "deps": {}}
    proj = np.random.RandomState(3).randn(64, 5)
    net = type("Net", (), dict(input_shape=None, apply=staticmethod(lambda p, levels: {
        "features": levels.reshape(levels.shape[0], -1) @ p})))
    rng = jax.random.PRNGKey(4)
    got = jax.jit(lambda: ppl.batch_distances(fam, net, jnp.asarray(proj), bundle, rng, 3,
                                              None))()
    k0, k1, kt = jax.random.split(rng, 3)
    z0, z1 = jax.random.normal(k0, (3, 3)), jax.random.normal(k1, (3, 3))
    t = np.asarray(jax.random.uniform(kt, (3,)))
    styles = jax.jit(lambda z: fam.exports["styles"](bundle, z))
    image = jax.jit(lambda ws: fam.exports["synthesize"](bundle, ws, clip=False))
    for i in range(3):
      w0, w1 = styles(z0[i:i + 1]), styles(z1[i:i + 1])
      a = np.asarray(image(w0 + t[i] * (w1 - w0))).reshape(-1) * 255
      b = np.asarray(image(w0 + (t[i] + 1e-4) * (w1 - w0))).reshape(-1) * 255
      want = np.sum(((a - b) @ proj) ** 2) / 1e-8
      np.testing.assert_allclose(got[i], want, rtol=1e-6)


def test_runs_written_before_d_architecture_existed_resume_as_resnet():
  """A StyleGAN2 config.json without model.stylegan2.d_architecture or
  sample.w_truncation_cutoff is the same experiment as today's default and
  reads 'resnet' and 0; a config without the group (an older DCGAN) reads
  without it."""
  from genjax.config import identity_diff, to_plain, upgraded
  import ml_collections
  new = to_plain(stylegan2_tiny_config())
  old = to_plain(stylegan2_tiny_config())
  del old["model"]["stylegan2"]["d_architecture"], old["sample"]["w_truncation_cutoff"]
  assert identity_diff(old, new) == []
  assert identity_diff(old, to_plain(stylegan2_tiny_config(d_architecture="orig")))
  read = upgraded(ml_collections.ConfigDict(old))
  assert read.model.stylegan2.d_architecture == "resnet" and read.sample.w_truncation_cutoff == 0
  dcgan = to_plain(default_config())
  del dcgan["model"]["stylegan2"]
  assert "stylegan2" not in upgraded(ml_collections.ConfigDict(dcgan)).model
