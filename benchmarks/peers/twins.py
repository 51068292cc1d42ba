"""PyTorch twins of the genjax models that benchmarks/peers.py times (torch only).

Run only in the benchmark venv (``bash benchmarks/peers/setup.sh``), by
``torch_worker.py``; genjax never imports this file. Each case builds its
network(s) once and does one unit of work per ``step()``, the work genjax's
jitted step or sampler does:

  unet   diffusers ``UNet2DModel`` configured as genjax's DDPM U-Net (ch=32,
         ch_mult=(1, 2, 2), one ResBlock per level, attention at 7x7 and in
         the middle, one head): 1,112,801 parameters, as genjax's. A train
         step: t ~ U{0..999}, x_t = ``DDPMScheduler.add_noise`` (linear betas),
         eps-MSE, backward, global-norm clip 1.0, Adam, EMA 0.995.
  ddim   the same U-Net, ``DDIMScheduler`` (linspace spacing = genjax's
         respacing, x0 clipped, alpha_0 = 1), 50 steps, eta 0, no grad.
  dcgan  G: z(100) -> Linear (no bias) -> 7x7x128 -> BN-ReLU -> [sub-pixel
         2x conv (no bias) -> BN-ReLU] to 64, 32 channels -> 3x3 conv -> tanh
         (996,577 parameters); D: 4x4 stride-2 convs to 32, 64 with
         LeakyReLU(0.2) -> Linear logit (36,513). A step: one D update on
         concat([real, G(z)]) (fakes without grad), then one G update through
         D (D's weights need no grad), non-saturating loss, Adam 2e-4 (0.5,
         0.999) each, EMA of G with decay min(0.999, (1+t)/(10+t)).
  vae    the conv VAE: 3x3 stride-2 convs to 32, 64 (ReLU) -> Linear to
         2 x 32 (mean, logvar); Linear to 7x7x64 (ReLU) -> sub-pixel 2x conv
         to 32 (ReLU) -> sub-pixel 2x conv to 1 logit per pixel (397,985
         parameters). A step: reparameterised z, Bernoulli log-likelihood,
         analytic KL, backward, Adam 1e-3, EMA 0.999.

What differs from genjax, none of it changing the FLOPs: NCHW instead of
NHWC (so flattened and depth-to-space channel orders differ: ``PixelShuffle``
vs genjax's ``depth_to_space``, which matters only for copying weights);
stride-2 3x3 convs pad (1, 1) where genjax's 'SAME' pads (0, 1) (same output
size); the learning rate is constant where the experiments warm up and decay
it (a scalar per step); BatchNorm running statistics are also updated by the
fakes of the D step (genjax drops them); genjax's jitted step also returns
gradient and update norms and the loop's finiteness check of the new state
(a few reductions). Initialisation follows genjax's:
Glorot-uniform with zero output layers for the U-Net (DDPM), truncated
LeCun-normal elsewhere, ICNR for the sub-pixel convs.
"""
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from peer_inputs import BATCH, CHECK_SEED, check_inputs, train_batch


def nchw(a):
  return torch.from_numpy(np.ascontiguousarray(np.asarray(a).transpose(0, 3, 1, 2)))


def nhwc_shape(t):
  return [t.shape[0], *t.shape[2:], t.shape[1]] if t.ndim == 4 else list(t.shape)


def lecun_normal_(w):
  """flax's default kernel init: truncated normal, variance 1 / fan_in."""
  fan_in = w[0].numel()
  std = math.sqrt(1.0 / fan_in) / 0.87962566103423978
  return nn.init.trunc_normal_(w, 0.0, std, -2 * std, 2 * std)


def default_init_(module):
  """LeCun-normal weights and zero biases, as flax's Dense and genjax's Conv."""
  for m in module.modules():
    if isinstance(m, (nn.Linear, nn.Conv2d)):
      lecun_normal_(m.weight)
      if m.bias is not None:
        nn.init.zeros_(m.bias)


def ema_update_(ema, params, decay):
  """ema <- decay * ema + (1 - decay) * params, in place."""
  with torch.no_grad():
    torch._foreach_lerp_(ema, params, 1.0 - decay)


def adam(params, lr, betas=(0.9, 0.999)):
  """torch's Adam with its multi-tensor (foreach) update."""
  return torch.optim.Adam(params, lr=lr, betas=betas, eps=1e-8, foreach=True)


class SubPixelUp(nn.Module):
  """2x upsampling: 3x3 conv to 4 C channels + PixelShuffle (Shi et al. 2016),
  one bias per output channel: genjax.nn.conv.UpConv with ICNR init."""

  def __init__(self, cin, cout, bias=True, scale=2):
    super().__init__()
    self.conv = nn.Conv2d(cin, cout * scale * scale, 3, padding=1, bias=False)
    self.shuffle = nn.PixelShuffle(scale)
    self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
    with torch.no_grad():   # ICNR: the scale^2 sub-pixels of a channel share a kernel
      base = lecun_normal_(torch.empty(cout, cin, 3, 3))
      self.conv.weight.copy_(base.repeat_interleave(scale * scale, dim=0))

  def forward(self, x):
    y = self.shuffle(self.conv(x))
    return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)


# --------------------------------------------------------------------------
# DDPM U-Net (diffusers)


def make_unet(ddpm_init=True):
  """diffusers' UNet2DModel as genjax's UNet(ch=32, ch_mult=(1, 2, 2),
  num_res_blocks=1, attn_resolutions=(7,), num_heads=1) on 28x28x1.

  ``attention_head_dim=None``: one head per attention block (genjax's
  num_heads=1); ``freq_shift=1, flip_sin_to_cos=False``: genjax's sinusoidal
  embedding (sin first, frequencies 10000^(-i / (half - 1))); GroupNorm eps
  1e-6 as genjax's. ``ddpm_init``: genjax's init (Glorot everywhere, zero
  output convs); False leaves those Glorot too (the forward check).
  """
  from diffusers import UNet2DModel
  model = UNet2DModel(
      sample_size=28, in_channels=1, out_channels=1, block_out_channels=(32, 64, 64),
      layers_per_block=1, down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
      up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"), attention_head_dim=None,
      norm_eps=1e-6, freq_shift=1, flip_sin_to_cos=False, dropout=0.0)
  glorot_init_(model, zero_outputs=ddpm_init)
  return model


def glorot_init_(model, zero_outputs=True):
  """DDPM's init as genjax's U-Net has it: Glorot-uniform, zero biases, and
  zero for each ResBlock's second conv, each attention output and conv_out.
  genjax projects q, k, v with one Dense(3C): their Glorot fan is (C, 3C)."""
  from diffusers.models.attention_processor import Attention
  zero = []
  for name, m in model.named_modules():
    if isinstance(m, (nn.Linear, nn.Conv2d)):
      nn.init.xavier_uniform_(m.weight)
      nn.init.zeros_(m.bias)
    if isinstance(m, Attention):
      c = m.to_q.weight.shape[1]
      bound = math.sqrt(6.0 / (c + 3 * c))
      for proj in (m.to_q, m.to_k, m.to_v):
        nn.init.uniform_(proj.weight, -bound, bound)
      zero.append(m.to_out[0])
    if name.endswith("conv2") and "resnets" in name:
      zero.append(m)
  if zero_outputs:
    for m in zero + [model.conv_out]:
      nn.init.zeros_(m.weight)


def count(module):
  return sum(p.numel() for p in module.parameters())


class DDPMTrain:
  """The diffusion train step (see the module docstring)."""

  def __init__(self, batch, lr=1e-3, ema_decay=0.995, grad_clip=1.0):
    from diffusers import DDPMScheduler
    self.batch = batch
    self.model = make_unet().train()
    self.scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    self.opt = adam(self.model.parameters(), lr)
    self.params = list(self.model.parameters())
    self.ema = [p.detach().clone() for p in self.params]
    self.ema_decay, self.grad_clip = ema_decay, grad_clip
    self.x0 = nchw(train_batch("unet", batch)["image"])

  def param_counts(self):
    return {"unet": count(self.model)}

  def step(self):
    noise = torch.randn_like(self.x0)
    t = torch.randint(0, 1000, (self.batch,))
    xt = self.scheduler.add_noise(self.x0, noise, t)
    loss = F.mse_loss(self.model(xt, t).sample, noise)
    self.opt.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(self.params, self.grad_clip, foreach=True)
    self.opt.step()
    ema_update_(self.ema, self.params, self.ema_decay)

  def check(self):
    """Output std at init on the check input, output layers not zeroed."""
    inputs = check_inputs("unet", self.batch)
    with torch.no_grad():
      out = make_unet(ddpm_init=False)(nchw(inputs["x"]), torch.from_numpy(inputs["t"]).long()).sample
    return {"shape": nhwc_shape(out), "std": {"eps": float(out.std())}}


class DDIMSample:
  """DDIM-50 sampling (eta 0) of a batch with the U-Net of DDPMTrain."""

  def __init__(self, batch, steps=50):
    from diffusers import DDIMScheduler
    self.batch = batch
    self.model = make_unet().eval()
    self.scheduler = DDIMScheduler(
        num_train_timesteps=1000, beta_schedule="linear", timestep_spacing="linspace",
        clip_sample=True, set_alpha_to_one=True, prediction_type="epsilon")
    self.scheduler.set_timesteps(steps)
    self.last = None

  def param_counts(self):
    return {"unet": count(self.model)}

  def step(self):
    x = torch.randn(self.batch, 1, 28, 28)
    with torch.inference_mode():
      for t in self.scheduler.timesteps:
        eps = self.model(x, t).sample
        x = self.scheduler.step(eps, t, x, eta=0.0).prev_sample
    self.last = (x / 2 + 0.5).clamp(0, 1)

  def check(self):
    """Std of one sample batch of the DDPM-initialised (zero-output) U-Net."""
    if self.last is None:
      self.step()
    return {"shape": nhwc_shape(self.last), "std": {"images": float(self.last.std())}}


# --------------------------------------------------------------------------
# DCGAN


class Generator(nn.Module):
  """genjax's DCGANGenerator(image_shape=(28, 28, 1), channels=(64, 32))."""

  def __init__(self, z_dim=100, channels=(64, 32), out_channels=1, base=7):
    super().__init__()
    c0, self.base = 2 * channels[0], base
    self.fc = nn.Linear(z_dim, base * base * c0, bias=False)
    self.norm_in = nn.BatchNorm2d(c0, momentum=0.1)   # flax momentum 0.9
    widths = (c0,) + tuple(channels)
    self.ups = nn.ModuleList([SubPixelUp(a, b, bias=False) for a, b in zip(widths, widths[1:])])
    self.norms = nn.ModuleList([nn.BatchNorm2d(c, momentum=0.1) for c in channels])
    self.out = nn.Conv2d(channels[-1], out_channels, 3, padding=1)
    default_init_(self.fc)
    default_init_(self.out)

  def forward(self, z):
    h = self.fc(z).view(z.shape[0], -1, self.base, self.base)
    h = F.relu(self.norm_in(h))
    for up, norm in zip(self.ups, self.norms):
      h = F.relu(norm(up(h)))
    return torch.tanh(self.out(h))


class Discriminator(nn.Module):
  """genjax's DCGANDiscriminator(channels=(32, 64)) on 28x28x1: 4x4 stride-2
  convs ('SAME' there, padding 1 here: the same pads) + LeakyReLU, a linear logit."""

  def __init__(self, channels=(32, 64), in_channels=1, size=28):
    super().__init__()
    widths = (in_channels,) + tuple(channels)
    self.convs = nn.ModuleList([nn.Conv2d(a, b, 4, stride=2, padding=1)
                                for a, b in zip(widths, widths[1:])])
    side = size // 2 ** len(channels)
    self.head = nn.Linear(side * side * channels[-1], 1)
    default_init_(self)

  def forward(self, x):
    for conv in self.convs:
      x = F.leaky_relu(conv(x), 0.2)
    return self.head(x.flatten(1))[:, 0]


class DCGANTrain:
  """One D step and one G step of the non-saturating GAN (module docstring)."""

  def __init__(self, batch, lr=2e-4, betas=(0.5, 0.999), ema_decay=0.999, z_dim=100):
    self.batch, self.z_dim, self.ema_decay = batch, z_dim, ema_decay
    self.g, self.d = Generator(z_dim).train(), Discriminator().train()
    self.g_opt, self.d_opt = adam(self.g.parameters(), lr, betas), adam(self.d.parameters(), lr, betas)
    self.g_params = list(self.g.parameters())
    self.g_ema = [p.detach().clone() for p in self.g_params]
    self.real = nchw(train_batch("dcgan", batch)["image"])
    self.t = 0

  def param_counts(self):
    return {"generator": count(self.g), "discriminator": count(self.d)}

  def step(self):
    with torch.no_grad():
      fake = self.g(torch.randn(self.batch, self.z_dim))
    logits = self.d(torch.cat([self.real, fake]))
    real_logits, fake_logits = logits[:self.batch], logits[self.batch:]
    d_loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    self.d_opt.zero_grad(set_to_none=True)
    d_loss.backward()
    self.d_opt.step()

    self.d.requires_grad_(False)
    g_loss = F.softplus(-self.d(self.g(torch.randn(self.batch, self.z_dim)))).mean()
    self.g_opt.zero_grad(set_to_none=True)
    g_loss.backward()
    self.g_opt.step()
    self.d.requires_grad_(True)
    ema_update_(self.g_ema, self.g_params, min(self.ema_decay, (1 + self.t) / (10 + self.t)))
    self.t += 1

  def check(self):
    """Std of G's images in [0, 1] and of D's logits on the check input at
    init, BatchNorm in inference mode (running statistics 0 and 1)."""
    inputs = check_inputs("dcgan", self.batch)
    torch.manual_seed(CHECK_SEED)
    g, d = Generator(self.z_dim).eval(), Discriminator().eval()
    with torch.no_grad():
      images = (g(torch.from_numpy(inputs["z"])) + 1) / 2
      logits = d(nchw(inputs["x"]))
    return {"shape": nhwc_shape(images),
            "std": {"g_images": float(images.std()), "d_logits": float(logits.std())}}


# --------------------------------------------------------------------------
# Conv VAE


class VAE(nn.Module):
  """genjax's conv VAE (channels=(32, 64), latent_dim=32, Bernoulli decoder)."""

  def __init__(self, channels=(32, 64), latent_dim=32, base=7):
    super().__init__()
    widths = (1,) + tuple(channels)
    self.enc = nn.ModuleList([nn.Conv2d(a, b, 3, stride=2, padding=1)
                              for a, b in zip(widths, widths[1:])])
    self.enc_out = nn.Linear(base * base * channels[-1], 2 * latent_dim)
    self.dec_in = nn.Linear(latent_dim, base * base * channels[-1])
    self.base, self.top = base, channels[-1]
    rev = tuple(reversed(channels))
    self.ups = nn.ModuleList([SubPixelUp(a, b) for a, b in zip(rev, rev[1:])])
    self.output = SubPixelUp(channels[0], 1)
    default_init_(self.enc)
    default_init_(self.enc_out)
    default_init_(self.dec_in)

  def encode(self, x):
    for conv in self.enc:
      x = F.relu(conv(x))
    return self.enc_out(x.flatten(1)).chunk(2, dim=-1)

  def decode(self, z):
    h = F.relu(self.dec_in(z)).view(z.shape[0], self.top, self.base, self.base)
    for up in self.ups:
      h = F.relu(up(h))
    return self.output(h)


class VAETrain:
  """The VAE train step: -ELBO with one reparameterised sample (module docstring)."""

  def __init__(self, batch, lr=1e-3, ema_decay=0.999):
    self.model = VAE().train()
    self.opt = adam(self.model.parameters(), lr)
    self.params = list(self.model.parameters())
    self.ema = [p.detach().clone() for p in self.params]
    self.ema_decay = ema_decay
    self.x = nchw(train_batch("vae", batch)["image"])

  def param_counts(self):
    return {"vae": count(self.model)}

  def step(self):
    mean, logvar = self.model.encode(self.x)
    z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
    logits = self.model.decode(z)
    recon = F.binary_cross_entropy_with_logits(logits, self.x, reduction="none").flatten(1).sum(1)
    kl = 0.5 * (torch.exp(logvar) + mean ** 2 - 1.0 - logvar).sum(1)
    loss = (recon + kl).mean()
    self.opt.zero_grad(set_to_none=True)
    loss.backward()
    self.opt.step()
    ema_update_(self.ema, self.params, self.ema_decay)

  def check(self):
    """Std of q(z|x)'s mean and of the decoded mean images at init."""
    inputs = check_inputs("vae", self.x.shape[0])
    torch.manual_seed(CHECK_SEED)
    model = VAE().eval()
    with torch.no_grad():
      mean, _ = model.encode(nchw(inputs["x"]))
      images = torch.sigmoid(model.decode(mean))
    return {"shape": nhwc_shape(images),
            "std": {"code_mean": float(mean.std()), "images": float(images.std())}}


CASES = {"unet": DDPMTrain, "ddim": DDIMSample, "dcgan": DCGANTrain, "vae": VAETrain}


def build(case, batch=None):
  """The twin of ``case`` (a key of CASES) at ``batch`` (default BATCH[case])."""
  return CASES[case](batch or BATCH[case])
