"""Perceptual path length (genjax/eval/ppl.py) against closed forms and
brute force: a linear mapping, generator and feature map, whose path
distances are exact and whose expectation is 2 ||B A||_F^2; the outlier
filter against the definition of the percentiles, written out."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.eval import ppl


def linear_model(seed=0, z_dim=3, pixels=5, feats=4, dtype=jnp.float64):
  """w = M z, g(w) = A w (as [N, pixels]), phi(x) = B x: (styles, synthesize,
  features, the closed-form per-path factor B A M)."""
  rs = np.random.RandomState(seed)
  m, a, b = rs.randn(z_dim, z_dim), rs.randn(pixels, z_dim), rs.randn(feats, pixels)
  styles = lambda z: (z @ jnp.asarray(m.T, dtype))[:, None, :]       # one layer of w
  synthesize = lambda ws: ws[:, 0, :] @ jnp.asarray(a.T, dtype)
  features = lambda x: x @ jnp.asarray(b.T, dtype)
  return styles, synthesize, features, b @ a @ m


def test_linear_generator_path_distance_is_the_exact_squared_norm_float64():
  """For linear f, g, phi the difference quotient is exact at any eps and t:
  d / eps^2 = ||B A M (z1 - z0)||^2, whatever t."""
  with jax.enable_x64(True):
    styles, synthesize, features, bam = linear_model()
    rs = np.random.RandomState(1)
    z0, z1 = rs.randn(6, 3), rs.randn(6, 3)
    t = rs.uniform(size=6)
    got = ppl.pair_distances(styles, synthesize, features, jnp.asarray(z0),
                             jnp.asarray(z1), jnp.asarray(t), 1e-4)
    want = [np.sum((bam @ (z1[i] - z0[i])) ** 2) for i in range(6)]   # a numpy loop
    np.testing.assert_allclose(got, want, rtol=1e-7)


def test_linear_generator_mean_matches_the_closed_form_expectation():
  """E ||B A M (z1 - z0)||^2 over z0, z1 ~ N(0, I) is 2 ||B A M||_F^2
  (z1 - z0 ~ N(0, 2I)); float32 with the paper's eps, 20k paths."""
  styles, synthesize, features, bam = linear_model(dtype=jnp.float32)
  k0, k1, kt = jax.random.split(jax.random.PRNGKey(0), 3)
  n = 20_000
  d = jax.jit(lambda: ppl.pair_distances(
      styles, synthesize, features, jax.random.normal(k0, (n, 3)),
      jax.random.normal(k1, (n, 3)), jax.random.uniform(kt, (n,))))()
  expected = 2.0 * np.sum(bam ** 2)
  # the sample mean's standard error is ~1-2% here; float32 at eps 1e-4 adds ~1e-3
  np.testing.assert_allclose(np.mean(np.asarray(d)), expected, rtol=0.05)


def test_lerp_is_linear_interpolation_per_sample():
  a, b = jnp.zeros((2, 3, 4)), jnp.ones((2, 3, 4))
  out = ppl.lerp(a, b, jnp.asarray([0.25, 1.0]))
  np.testing.assert_allclose(out[0], 0.25)
  np.testing.assert_allclose(out[1], 1.0)


def test_path_distances_divide_squared_feature_distance_by_eps_squared():
  f0 = jnp.asarray([[0.0, 0.0], [1.0, 2.0]])
  f1 = jnp.asarray([[3e-4, 4e-4], [1.0, 2.0]])
  np.testing.assert_allclose(ppl.path_distances(f0, f1, 1e-4), [25.0, 0.0], rtol=1e-5)


def brute_filtered_mean(d, low=1, high=99):
  """The definition written out: the sorted values, the lower order
  statistic at index floor(p (n - 1) / 100) and the higher at ceil(...),
  the mean of the values between them (ties on either bound kept)."""
  s = sorted(d)
  n = len(s)
  lo = s[int(np.floor(low / 100 * (n - 1)))]
  hi = s[int(np.ceil(high / 100 * (n - 1)))]
  kept = [v for v in d if lo <= v <= hi]
  return sum(kept) / len(kept)


def test_filtered_mean_drops_the_values_below_the_1st_and_above_the_99th_percentile():
  # 101 values 0..100 with both extremes made outliers: index 1 and 99 bound
  d = np.arange(101.0)
  d[0], d[100] = -1e9, 1e9
  assert ppl.filtered_mean(d) == pytest.approx(np.mean(np.arange(1.0, 100.0))) == 50.0
  assert brute_filtered_mean(list(d)) == 50.0


@pytest.mark.parametrize("n", [7, 100, 333, 1000])
def test_filtered_mean_follows_the_percentile_definition(n):
  d = np.random.RandomState(n).lognormal(size=n)
  d[:3] = d[0]   # ties
  assert ppl.filtered_mean(d) == pytest.approx(brute_filtered_mean(list(d)), rel=1e-12)


def test_ppl_on_a_model_without_a_mapping_network_is_a_start_up_error(monkeypatch):
  from genjax.errors import ConfigError
  from genjax.eval import evaluators
  from tests.eval.fakes import fake_net, toy_family
  monkeypatch.setattr(evaluators, "load_feature_net", lambda name: fake_net())
  spec = evaluators.parse("ppl_mnist", "mnist")
  assert spec == evaluators.Spec("ppl_mnist", "ppl", "mnist")
  assert evaluators.result_keys("ppl_mnist", "mnist") == ["ppl_mnist"]
  with pytest.raises(ConfigError, match="interpolates in W.*'stylegan' or 'stylegan2'"):
    evaluators.check_specs([spec], toy_family(), (28, 28, 1))
