"""Checks every family's exports share: each is a pure function of the bundle
it is handed as a jit argument (nothing closed over)."""
import jax
import numpy as np


def leaves_of(tree):
  return [np.asarray(leaf, np.float64) for leaf in jax.tree.leaves(tree)]


def assert_reads_the_bundle(export, bundle_a, bundle_b, *args, rtol=1e-5, atol=1e-6):
  """One jitted ``export`` takes two bundles of the same run's architecture
  as its argument: it gives each one's eager values, and they differ (a
  closed-over parameter would give bundle_a's values for both)."""
  jitted = jax.jit(export)
  out_a, out_b = jitted(bundle_a, *args), jitted(bundle_b, *args)
  for jitted_out, bundle in ((out_a, bundle_a), (out_b, bundle_b)):
    for got, want in zip(leaves_of(jitted_out), leaves_of(export(bundle, *args))):
      np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
  assert any(not np.allclose(a, b, rtol=1e-4, atol=1e-5)
             for a, b in zip(leaves_of(out_a), leaves_of(out_b)))


def perturbed(tree, seed, scale):
  """Every leaf of ``tree`` plus N(0, scale^2) noise (own key per leaf):
  parameters moved off their initial values, one bundle per seed."""
  leaves, structure = jax.tree.flatten(tree)
  keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
  return jax.tree.unflatten(structure, [leaf + scale * jax.random.normal(key, leaf.shape)
                                        for leaf, key in zip(leaves, keys)])
