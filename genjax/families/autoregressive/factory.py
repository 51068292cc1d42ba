"""The autoregressive family's entry point (``genjax.registry``): a pixel
model (family.py), or with ``model.likelihood='codes'`` a prior over the codes
of the VQ-VAE ``config.deps.vqvae`` (vq_prior.py) or, when the config names
``config.deps.vqvae2``, the two-level prior over a VQ-VAE-2's (vq2_prior.py)."""
from genjax.config import require
from genjax.families.autoregressive import family, vq2_prior, vq_prior


def make_family(config, deps=None):
  """The Family of ``config``: a prior over codes, or a pixel model."""
  if require(config, "model.likelihood") == "codes":
    if vq2_prior.DEP in config.get("deps", {}):
      return vq2_prior.make_two_level_family(config, deps)
    return vq_prior.make_prior_family(config, deps)
  return family.make_family(config, deps)
