"""Defaults of the translation family (image-to-image GANs); experiments
override a few fields."""
from genjax.config import base_config, shrink_for_smoke
from genjax.errors import ConfigError


def default_config():
  c = base_config()
  c.family = "translation"
  c.model.update(dict(
      name="pix2pix",            # MODELS of family.py
      source_key="source",       # the batch field G translates (pix2pix: its pair;
                                 # CycleGAN: domain A, 'image')
      target_key="image",        # the field of the images G makes (CycleGAN:
                                 # domain B, 'target', the data.unpaired stream)
      image_shape=(32, 32, 1),   # the target images' [H, W, C]
      source_shape=(32, 32, 1),  # the source's; H, W must equal the target's
      generator="unet",          # unet (pix2pix) | resnet (CycleGAN)
      ngf=64,                    # G's first width
      num_downs=5,               # U-Net: stride-2 levels (8 for 256 px: 1x1 bottleneck)
      n_blocks=9,                # ResNet G: residual blocks (9 for 256 px, 6 for 128)
      norm="batch",              # G's and D's norm: batch | instance | none
      dropout=True,              # U-Net: dropout 0.5 in its inner layers, at test too
      ndf=64,                    # PatchGAN's first width
      n_layers=2,                # PatchGAN stride-2 layers: 1 -> 16x16, 2 -> 34x34, 3 -> 70x70
      gan_mode="vanilla",        # vanilla (BCE, pix2pix) | lsgan (least squares, CycleGAN)
      lambda_gan=1.0,            # weight of G's adversarial term (0: an L1-only U-Net)
      lambda_l1=100.0,           # pix2pix's lambda (eq. 4)
      lambda_cycle=10.0,         # CycleGAN's lambda (eq. 3)
      lambda_identity=0.5,       # CycleGAN's identity weight, relative to lambda_cycle
      pool_size=50,              # CycleGAN's history of fakes per D (0: none)
  ))
  c.data.preprocess = ("scale_pm1",)
  # pix2pix's Adam (Isola et al. 2017 sec. 3.3): lr 2e-4, beta1 0.5; no EMA.
  # hold_steps: a 'linear' schedule's constant part (CycleGAN: lr for n_epochs,
  # then linearly to 0 over n_epochs_decay; genjax/core/optim.py).
  c.optim.update(lr=2e-4, b1=0.5, b2=0.999, ema_decay=0.0, hold_steps=0)
  c.sample.use_ema = False
  # What ``sample`` (--mode sample, sample metrics) translates: 'AB', G_AB of
  # the model.source_key field, or CycleGAN's 'BA', G_BA of the
  # model.target_key field (sample metrics then score domain-A images:
  # cond_acc against that stream's labels, FID against the main split's).
  c.sample.direction = "AB"
  return c


def stargan_config():
  """default_config with StarGAN's fields (stargan.py; only StarGAN's
  configs hold them, so runs of the other models keep their fields) and the
  reference's settings: Adam lr 1e-4, betas (0.5, 0.999)."""
  c = default_config()
  c.model.update(dict(
      name="stargan", generator="resnet", norm="instance_affine", dropout=False,
      n_blocks=6,
      domain_kind="attributes",  # attributes (bits [K] per image) | classes (an index)
      domain_key="domain",       # the batch field of each image's domain
      attributes=("thin/thick", "left/right"),   # attributes: each bit's words for 0/1
      num_domains=0,             # classes: their number
      domain_measure="mnist",    # what scores target_acc: a genjax.data.domains
                                 # dataset (attributes) or a feature net with
                                 # logits (classes); '': no target_acc
      d_layers=6,                # the critic's stride-2 layers (6 for 128 px)
      n_critic=5,                # critic iterations per G iteration (WGAN-GP)
      lambda_gp=10.0,            # gradient penalty weight (eq. 7's lambda_gp)
      lambda_cls=1.0,            # domain classification weight
      lambda_rec=10.0,           # reconstruction (cycle) weight
  ))
  c.optim.update(lr=1e-4, b1=0.5, b2=0.999)
  # The domain ``sample`` translates into: 'random' (a uniform domain per
  # image) or a domain's name ('thick+left': one word per attribute).
  c.sample.domain = "random"
  return c


def parse_variant_arg(arg, variants):
  """``:ARG`` -> (variant or None, smoke): ARG is nothing, 'smoke', one of
  ``variants``, or a variant and smoke joined by a comma ('l1,smoke')."""
  parts = [p.strip() for p in str(arg or "").split(",") if p.strip()]
  kinds = [p for p in parts if p != "smoke"]
  if len(kinds) > 1 or any(k not in variants for k in kinds):
    named = ", ".join(f"'{v}'" for v in variants)
    raise ConfigError(
        f"Unknown config argument {arg!r}: this experiment takes nothing, 'smoke', "
        f"one of {named}, or one of them and smoke joined by a comma (e.g. "
        f"'{variants[0]},smoke').")
  return (kinds[0] if kinds else None), "smoke" in parts


def shrink_translation_for_smoke(c):
  """The ``:smoke`` run: genjax.config.shrink_for_smoke and tiny players."""
  shrink_for_smoke(c)
  c.model.update(ngf=4, ndf=4, n_blocks=1)
  return c


def shrink_stargan_for_smoke(c):
  """StarGAN's ``:smoke`` run: tiny players, 4 images per critic iteration
  (5 per step), the learning rate's decay within the run."""
  shrink_translation_for_smoke(c)
  c.train.batch_size = 4 * c.model.n_critic
  c.optim.update(hold_steps=3, decay_steps=6)
  return c
