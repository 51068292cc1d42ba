"""Perceptual path length in W (Karras et al. 2019, "A Style-Based Generator
Architecture for GANs", sec. 4.2, eq. 2; StyleGAN2's full-path variant).

    l_W = E[ (1 / eps^2) d(g(lerp(w1, w2, t)), g(lerp(w1, w2, t + eps))) ],
    w_i = f(z_i), z_i ~ N(0, I), t ~ U(0, 1), eps = 1e-4,

with f the mapping network, g the synthesis network and lerp linear
interpolation of every layer's w. The reference (StyleGAN2-ADA's
``metrics/perceptual_path_length.py``, ``space='w'``, ``sampling='full'``):
t over the whole path (StyleGAN's 'end' variant takes t in {0, 1}), both
images of a pair with the same noise, no truncation, images not quantised
or clipped (a difference of 1e-4 in w would vanish in 8-bit levels), and
the mean taken over the distances between the 1st and the 99th percentile
(``filtered_mean``: the paper's outlier rejection).

The distance here is the squared Euclidean distance of the feature
network's features (``d(x, y) = ||phi(x) - phi(y)||^2``; phi the dataset's
classifier or the FID Inception, the nets of ``fid_<net>``, images resized
by ``extract.fit_to_net``). The paper's d is LPIPS on VGG-16 (Zhang et al.
2018: unit-normalised channels, learned weights), which is not available
offline: values are comparable between runs scored with the same net, never
with the paper's (e.g. FFHQ StyleGAN 412.0 in W, full paths, Table 3).

The model side comes from the family's exports ``styles(bundle, z,
labels)`` -> ws and ``synthesize(bundle, ws, clip=False)`` -> images in
[0, 1] (StyleGAN's and StyleGAN2's); ``z_dim()`` gives the latent size.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np

from genjax.eval.extract import fit_to_net

EPSILON = 1e-4           # the paper's eps
PERCENTILES = (1, 99)    # outlier rejection: keep [1st, 99th] percentile


def lerp(a, b, t):
  """a + t (b - a), t [B] broadcast over the other axes of a, b [B, ...]."""
  t = t.reshape(t.shape + (1,) * (a.ndim - 1))
  return a + t * (b - a)


def path_distances(features_t, features_t_eps, eps=EPSILON):
  """d / eps^2 per pair: ||phi(g(w_t)) - phi(g(w_{t+eps}))||^2 / eps^2 (eq. 2)."""
  diff = (features_t - features_t_eps).reshape(features_t.shape[0], -1)
  return jnp.sum(jnp.square(diff), axis=1) / eps ** 2


def pair_distances(styles, synthesize, features, z0, z1, t, eps=EPSILON):
  """eq. 2's term of each pair: ws of z0 and z1 (``styles``), images at
  lerp(t) and lerp(t + eps) in one ``synthesize`` call, their ``features``
  -> [B] path distances. Pure; the functions take and return arrays."""
  num = z0.shape[0]
  ws = styles(jnp.concatenate([z0, z1]))
  ws0, ws1 = ws[:num], ws[num:]
  images = synthesize(jnp.concatenate([lerp(ws0, ws1, t), lerp(ws0, ws1, t + eps)]))
  feats = features(images)
  return path_distances(feats[:num], feats[num:], eps)


def filtered_mean(distances, percentiles=PERCENTILES):
  """The mean of the distances within [p_lo, p_hi], p_lo the lower and
  p_hi the higher order statistic at those percentiles (numpy's 'lower' /
  'higher' methods, as the reference)."""
  d = np.asarray(distances, np.float64)
  lo = np.percentile(d, percentiles[0], method="lower")
  hi = np.percentile(d, percentiles[1], method="higher")
  return float(np.mean(d[(d >= lo) & (d <= hi)]))


def net_features(net, params, images):
  """The feature net's features of images in [0, 1], not quantised: levels
  x * 255 as floats (resized to a fixed-size net's input first)."""
  levels = fit_to_net(images, net.input_shape) * 255.0
  return net.apply(params, levels)["features"]


def family_functions(family, bundle, labels):
  """(styles, synthesize) of a family's exports bound to a bundle and labels
  (doubled: both ends of a path carry the same label)."""
  exports = family.exports
  both = None if labels is None else jnp.concatenate([labels, labels])
  styles = lambda z: exports["styles"](bundle, z, both)
  synthesize = lambda ws: exports["synthesize"](bundle, ws, clip=False)
  return styles, synthesize


def batch_distances(family, net, net_params, bundle, rng, num, labels, eps=EPSILON):
  """Path distances [num] of ``num`` fresh paths: z0, z1 ~ N(0, I), t ~ U(0, 1)."""
  k0, k1, kt = jax.random.split(rng, 3)
  shape = (num, family.exports["z_dim"]())
  styles, synthesize = family_functions(family, bundle, labels)
  return pair_distances(styles, synthesize,
                        functools.partial(net_features, net, net_params),
                        jax.random.normal(k0, shape), jax.random.normal(k1, shape),
                        jax.random.uniform(kt, (num,)), eps)


def perceptual_path_length(family, net, state, num_samples, batch_size, seed,
                           use_ema=True, out_shardings=None):
  """PPL in W of a family's trained state over ``num_samples`` paths, in
  jitted batches (class-balanced labels for a conditional model)."""
  bundle = {"trained": jax.jit(family.trained, static_argnums=1)(state, use_ema),
            "deps": {}}
  run = jax.jit(functools.partial(batch_distances, family, net), static_argnums=3,
                out_shardings=out_shardings)
  key, k = jax.random.PRNGKey(seed), family.num_classes
  parts = []
  for i, start in enumerate(range(0, num_samples, batch_size)):
    labels = None if k is None else jnp.arange(start, start + batch_size, dtype=jnp.int32) % k
    d = run(net.params, bundle, jax.random.fold_in(key, i), batch_size, labels)
    parts.append(np.asarray(jax.device_get(d))[:num_samples - start])
  return filtered_mean(np.concatenate(parts))
