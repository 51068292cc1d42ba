"""Defaults of the GAN family; experiments override a few fields."""
from ml_collections.config_dict import placeholder

from genjax.config import base_config


def default_config():
  c = base_config()
  c.family = "gan"
  c.model.update(dict(
      arch="dcgan",               # mlp | dcgan | resnet | stylegan2 | stylegan (models.ARCHS)
      image_shape=(28, 28, 1),
      z_dim=100,                  # latent size; z ~ N(0, I)
      g_hidden=(256, 512, 1024),  # MLP G widths (Linear + BatchNorm + ReLU blocks)
      d_hidden=(512, 256),        # MLP D widths (Linear + LeakyReLU blocks)
      g_channels=(128, 64),       # conv G widths, one per 2x upsampling (28: 7->14->28)
      d_channels=(64, 128),       # conv D widths, one per stride-2 conv / down block
      num_classes=0,              # > 0: class-conditional (needs a labelled dataset)
      g_cond="cbn",               # concat (cGAN, z + one-hot) | cbn (conditional BatchNorm)
      d_cond="projection",        # concat (one-hot input maps) | projection (Miyato & Koyama)
      spectral_norm=False,        # spectral normalisation of every D layer
      d_batch_norm=False,         # BatchNorm in the DCGAN D (not with WGAN-GP / R1)
      loss="non_saturating",      # minimax | non_saturating | hinge | least_squares | wasserstein
      penalty="none",             # none | r1 | r2 | gp (WGAN-GP)
      penalty_weight=0.0,         # R1/R2: gamma / 2; gp: lambda (10 in the paper)
      penalty_every=1,            # lazy regularisation: every k D steps, scaled by k
      n_critic=1,                 # D steps per G step
      augment="none",             # none | diffaugment | ada
      diffaugment_policy=("color", "translation", "cutout"),
      ada_ops=("xflip", "rotate90", "xint", "brightness", "contrast",
               "saturation", "cutout"),
      ada_target=0.6,             # target of r_t = E[sign D(real)], in (0, 1)
      ada_interval=4,             # update p every this many steps
      ada_kimg=500,               # p can move 0 -> 1 in this many thousand images
      stylegan2=stylegan2_group(),
      progan=progan_group(),
  ))
  c.data.preprocess = ("scale_pm1",)   # 8-bit data -> [-1, 1], G's tanh range
  # DCGAN's Adam (Radford et al. 2016): lr 2e-4, beta1 0.5. d_lr: D's learning
  # rate (TTUR, Heusel et al. 2017); None = lr.
  c.optim.update(lr=2e-4, b1=0.5, b2=0.999, ema_decay=0.999)
  c.optim.d_lr = placeholder(float)
  # truncation: sample z from N(0, I) truncated to [-psi, psi] (0 = none);
  # truncation_grid: the psis of the truncation grid (same z, one row each).
  c.sample.update(dict(truncation=0.0, truncation_grid=(0.5, 0.7, 1.0, 0.0),
                       grid_columns=8))
  # StyleGAN2's truncation in w (Karras et al. 2019): w_avg + psi (w - w_avg),
  # psi in [0, 1] (1 = none); w_truncation_grid: the psis of its grid's rows.
  c.sample.update(dict(w_truncation=1.0, w_truncation_grid=(1.0, 0.7, 0.5, 0.0)))
  # w_truncation_cutoff > 0: truncate only the layers of w below it (StyleGAN's
  # truncation_cutoff = 8, the coarse and middle styles at 1024); 0: all.
  c.sample.w_truncation_cutoff = 0
  return c


def stylegan2_group():
  """model.stylegan2: StyleGAN2 (arch='stylegan2', stylegan2.py; Karras et al.
  2020, "Analyzing and Improving the Image Quality of StyleGAN"). Defaults:
  config F (StyleGAN2-ADA's 'stylegan2' configuration). Its R1 is the
  family's: penalty='r1', penalty_weight = gamma / 2, penalty_every = 16.
  StyleGAN (arch='stylegan', stylegan.py) reads the same group; its
  experiments set channel_base 16384, d_architecture 'orig', pl_weight 0."""
  return dict(
      w_dim=512,                  # size of w (z's is model.z_dim)
      mapping_layers=8,           # depth of the mapping network z -> w (and D's label mapping)
      mapping_lr_mul=0.01,        # its learning-rate multiplier (StyleGAN app. C)
      channel_base=32768,         # channels at resolution r: min(channel_base // r, channel_max)
      channel_max=512,
      mbstd_group=4,              # minibatch standard deviation: samples per group
      mbstd_channels=1,           # and the feature maps it appends
      d_architecture="resnet",    # D: resnet (StyleGAN2) | orig (ProGAN's / StyleGAN's, no skips)
      style_mixing=0.9,           # probability of style mixing regularisation (StyleGAN sec. 3.1)
      w_avg_beta=0.995,           # decay of w_avg, the running mean of w (truncation's centre)
      pl_weight=2.0,              # path-length regularisation weight (0: off; app. B)
      pl_interval=4,              # lazy: every pl_interval G steps, scaled by pl_interval
      pl_batch_shrink=2,          # its batch: train.batch_size // pl_batch_shrink
      pl_decay=0.01,              # decay of a, the running mean of path lengths
  )


def progan_group():
  """model.progan: ProGAN (arch='progan', progan.py; Karras et al. 2018,
  "Progressive Growing of GANs"). Defaults: the paper's CelebA-HQ networks and
  schedule. Its loss is the family's WGAN-GP (loss='wasserstein',
  penalty='gp', penalty_weight=10) plus the drift term below."""
  return dict(
      fmap_base=8192,             # channels of stage s: min(fmap_base / 2^s, fmap_max)
      fmap_max=512,
      mbstd_group=4,              # minibatch stddev group (0 or 1: none)
      fade_kimg=600.0,            # thousands of images fading in each new level (alpha 0 -> 1)
      stable_kimg=600.0,          # then at alpha 1 (level 0: only this)
      epsilon_drift=0.001,        # D's loss + epsilon_drift * E[D(x_real)^2] (app. A.1)
  )


def shrink_gan_for_smoke(c, eval_metrics=("d_real", "fid_mnist")):
  """The ``:smoke`` argument of the GAN experiments: tiny nets, a run of seconds.

  Keeps the architecture, loss, penalty, conditioning and augmentation of the
  experiment; shrinks widths and the run (``genjax.config.shrink_for_smoke``).
  """
  from genjax.config import shrink_for_smoke
  shrink_for_smoke(c)
  m = c.model
  m.update(z_dim=8, g_hidden=(16,), d_hidden=(16,),
           g_channels=tuple([8] * len(m.g_channels)),
           d_channels=tuple([8] * len(m.d_channels)))
  # StyleGAN2: 8 channels up to 16x16, 4 at 32x32; a 1-layer mapping
  m.stylegan2.update(w_dim=8, mapping_layers=1, channel_base=128, channel_max=8)
  # ProGAN: 8 channels up to 16x16, 4 at 32x32; a level every 32 images
  # (2 smoke steps): stable 4x4, a fade into 8x8 (resumed mid-fade), 8x8
  m.progan.update(fmap_base=64, fmap_max=8, fade_kimg=0.032, stable_kimg=0.032)
  c.train.eval_metrics = ("d_real",)
  c.eval.metrics = tuple(eval_metrics)
  c.sample.truncation_grid = (0.5, 0.0)
  c.sample.grid_columns = 4
  return c


def smoke_on_emoji32(c, eval_metrics=("d_real",)):
  """The ``:smoke`` run of a GPU-sized experiment whose data need a manual
  download (tfds' mock data cannot stand in): ``shrink_gan_for_smoke``, then
  32x32 colour images of the offline ``emoji32`` set."""
  shrink_gan_for_smoke(c, eval_metrics)
  c.model.image_shape = (32, 32, 3)
  c.data.update(name="emoji32", offline=True, eval_split="test", shuffle_buffer=1_000)
  return c


LIMITED_DATA_ARGS = ("none", "diffaugment", "ada")


def parse_augment_arg(arg, default="ada"):
  """``:ARG`` of the limited-data experiments -> (augment, smoke).

  ARG is one of none | diffaugment | ada | smoke, or an augmentation and
  smoke joined by a comma (``diffaugment,smoke``); nothing means ``default``.
  """
  from genjax.errors import ConfigError
  parts = [p.strip() for p in str(arg or "").split(",") if p.strip()]
  smoke = "smoke" in parts
  kinds = [p for p in parts if p != "smoke"]
  if len(kinds) > 1 or any(k not in LIMITED_DATA_ARGS for k in kinds):
    raise ConfigError(
        f"Unknown config argument {arg!r}: the limited-data experiments take "
        f"one of {', '.join(LIMITED_DATA_ARGS)} (the augmentation; default "
        f"{default!r}), 'smoke', or e.g. 'diffaugment,smoke'.")
  return (kinds[0] if kinds else default), smoke
