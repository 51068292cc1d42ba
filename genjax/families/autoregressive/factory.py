"""The autoregressive family's entry point (``genjax.registry``): a pixel
model (family.py), or with ``model.likelihood='codes'`` a prior over the codes
of the VQ-VAE ``deps['vqvae']`` (vq_prior.py)."""
from genjax.config import require
from genjax.families.autoregressive import family, vq_prior


def make_family(config, deps=None):
  """The Family of ``config``: the prior over codes, or a pixel model."""
  if require(config, "model.likelihood") == "codes":
    return vq_prior.make_prior_family(config, deps)
  return family.make_family(config, deps)
