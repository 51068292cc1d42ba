"""The translation family's entry: ``model.name`` picks the model."""
from genjax.config import require
from genjax.errors import check_choice
from genjax.families.translation.cyclegan import make_cyclegan_family
from genjax.families.translation.pix2pix import make_pix2pix_family
from genjax.families.translation.stargan import make_stargan_family

MODELS = {"pix2pix": make_pix2pix_family, "cyclegan": make_cyclegan_family,
          "stargan": make_stargan_family}


def make_family(config, deps=None):
  """The Family of ``config.model.name`` (MODELS)."""
  name = check_choice("translation model", require(config, "model.name"), MODELS)
  return MODELS[name](config, deps)
