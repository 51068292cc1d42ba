"""PixelCNN++ (Salimans, Karpathy, Chen & Kingma 2017): the network.

The network maps an image x [B,H,W,C] in [-1,1] to the parameters of a
discretised logistic mixture per pixel (``mixture.py``), with out(i, j)
depending only on the pixels before (i, j) in raster order. The paper's
modifications to PixelCNN that live here (sec. 2):

  * two streams instead of masked convs (sec. 2.5 / Fig. 2's causal
    structure, from the Gated PixelCNN): ``u`` sees the rows above
    (down-shifted 2x3 convs), ``ul`` the rows above and the pixels to the
    left (down-right-shifted 2x2 convs); 1x1 "nin" links feed u into ul;
  * gated ResNet blocks with concat_elu and dropout (sec. 2.6), every layer
    weight-normalised with data-dependent init (``genjax.nn.weight_norm``);
  * down-sampling by stride-2 (shifted) convs instead of dilated convs, three
    resolutions (32, 16, 8 on CIFAR-10), and up-sampling back by stride-2
    (shifted) transposed convs (sec. 2.3);
  * short-cut connections from each block of the first (down-sampling) pass
    to the matching block of the second (up-sampling) pass, the u-net-like
    structure of sec. 2.4 / Fig. 2;
  * then ELU and a 1x1 nin to the mixture parameters.

Naming follows the reference code: its "up pass" (``u_list``) is the first,
down-sampling pass, its "down pass" the second. The input gets an extra
channel of ones, so that zero padding is distinguishable from the image.
Class-conditional models (``num_classes``) add a learnt per-class vector to
the gate pre-activations of every gated ResNet (the reference's
``h @ hw`` with one-hot h).

Causality of the shifts: a down-shifted conv pads H by kh-1 on top and W by
(kw-1)/2 on both sides and then ``down_shift``s (one row) the first layer's
output; a down-right-shifted conv pads kh-1 on top and kw-1 on the left and
then ``right_shift``s. Stride-2 shifted convs and their transposed twins keep
"before in raster order" (tests check it with gradients).
"""
import math
from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.core.precision import rematerialised
from genjax.errors import ConfigError
from genjax.families.autoregressive.mixture import mixture_num_params
from genjax.nn.weight_norm import WNConv, WNConvTranspose, WNDense

CLASS_EMBED_INIT = nn.initializers.normal(0.05)   # the reference's hw ~ N(0, 0.05^2)
# Blocks ``PixelCNNPP.remat`` can rematerialise (Chen et al. 2016; config.model.remat).
REMAT_KINDS = ("GatedResnet",)


def down_shift(x):
  """Shift the image down one row (zero row on top): out(i, j) = x(i-1, j)."""
  return jnp.pad(x[:, :-1], ((0, 0), (1, 0), (0, 0), (0, 0)))


def right_shift(x):
  """Shift the image right one column (zero column on the left): out(i, j) = x(i, j-1)."""
  return jnp.pad(x[:, :, :-1], ((0, 0), (0, 0), (1, 0), (0, 0)))


def concat_elu(x):
  """ELU of [x, -x] on the channel axis (sec. 2.6; doubles the channels)."""
  return nn.elu(jnp.concatenate([x, -x], axis=-1))


class DownShiftedConv(nn.Module):
  """Conv whose output (i, j) sees input rows <= i (all of them above and its own row)."""
  features: int
  kernel_size: tuple = (2, 3)
  strides: int = 1
  init_scale: float = 1.0

  @nn.compact
  def __call__(self, x):
    kh, kw = self.kernel_size
    pads = ((kh - 1, 0), ((kw - 1) // 2, (kw - 1) // 2))
    return WNConv(self.features, (kh, kw), self.strides, pads, self.init_scale,
                  name="conv")(x)


class DownRightShiftedConv(nn.Module):
  """Conv whose output (i, j) sees inputs (k, l) with k <= i and l <= j."""
  features: int
  kernel_size: tuple = (2, 2)
  strides: int = 1
  init_scale: float = 1.0

  @nn.compact
  def __call__(self, x):
    kh, kw = self.kernel_size
    pads = ((kh - 1, 0), (kw - 1, 0))
    return WNConv(self.features, (kh, kw), self.strides, pads, self.init_scale,
                  name="conv")(x)


class DownShiftedDeconv(nn.Module):
  """Stride-2 transposed conv, cropped to [2H, 2W] so output row r sees input row r // 2."""
  features: int
  kernel_size: tuple = (2, 3)

  @nn.compact
  def __call__(self, x):
    kh, kw = self.kernel_size
    h, w = x.shape[1:3]
    y = WNConvTranspose(self.features, (kh, kw), 2, name="deconv")(x)
    side = (kw - 1) // 2
    return y[:, :2 * h, side:side + 2 * w]


class DownRightShiftedDeconv(nn.Module):
  """Stride-2 transposed conv, cropped to [2H, 2W]: output (r, c) sees input (r // 2, c // 2)."""
  features: int
  kernel_size: tuple = (2, 2)

  @nn.compact
  def __call__(self, x):
    kh, kw = self.kernel_size
    h, w = x.shape[1:3]
    y = WNConvTranspose(self.features, (kh, kw), 2, name="deconv")(x)
    return y[:, :2 * h, :2 * w]


class GatedResnet(nn.Module):
  """x + a * sigmoid(b); [a, b] = conv(drop(concat_elu(conv(concat_elu(x)) + nin(concat_elu(aux)))))

  Sec. 2.6 and the reference's ``gated_resnet``: ``aux`` is the short-cut input
  (the u stream for ul, the first pass's blocks in the second pass); the last
  conv starts small (init_scale 0.1); a class embedding, when given, is added
  to the gate pre-activations [a, b].
  """
  conv: type            # DownShiftedConv or DownRightShiftedConv
  dropout: float = 0.5
  num_classes: Optional[int] = None

  @nn.compact
  def __call__(self, x, aux=None, labels=None, train=False):
    f = x.shape[-1]
    h = self.conv(f, name="conv_in")(concat_elu(x))
    if aux is not None:
      h = h + WNDense(f, name="nin_aux")(concat_elu(aux))
    h = concat_elu(h)
    h = nn.Dropout(self.dropout, deterministic=not train)(h)
    h = self.conv(2 * f, init_scale=0.1, name="conv_out")(h)
    if self.num_classes is not None:
      emb = nn.Embed(self.num_classes, 2 * f, embedding_init=CLASS_EMBED_INIT,
                     name="class_embed")(labels)
      h = h + emb[:, None, None, :]
    a, b = jnp.split(h, 2, axis=-1)
    return x + a * jax.nn.sigmoid(b)


class PixelCNNPP(nn.Module):
  """PixelCNN++: x [B,H,W,C] in [-1,1] -> mixture params [B,H,W,mixture_num_params(C, M)].

  Defaults are the paper's CIFAR-10 model (5 gated ResNets per resolution in
  each stream, 160 filters, 10 logistics, dropout 0.5). H and W must be
  divisible by 2**(num_resolutions - 1). ``remat``: block kinds
  (``REMAT_KINDS``) recomputed in the backward pass instead of stored
  (``genjax.core.precision.rematerialised``: same parameters, same maths).
  """
  nr_resnet: int = 5
  nr_filters: int = 160
  nr_logistic_mix: int = 10
  dropout: float = 0.5
  num_classes: Optional[int] = None
  num_resolutions: int = 3
  remat: tuple = ()
  REMAT_KINDS = REMAT_KINDS     # a class constant (not a field): what the family checks

  @nn.compact
  def __call__(self, x, labels=None, train=False):
    b, h, w, c = x.shape
    factor = 2 ** (self.num_resolutions - 1)
    if h % factor or w % factor:
      raise ConfigError(
          f"PixelCNNPP: image {h}x{w} cannot be halved {self.num_resolutions - 1} times; "
          f"H and W must be divisible by {factor} (pad/resize the images or lower "
          f"num_resolutions).")
    if (self.num_classes is None) != (labels is None):
      raise ValueError("PixelCNNPP: pass labels exactly when num_classes is set "
                       f"(num_classes={self.num_classes}, labels given: {labels is not None}).")
    f = self.nr_filters
    # (x, aux, labels, train) positionally: train is static under remat.
    block = rematerialised(GatedResnet, tuple(self.remat), static_argnums=(4,))
    resnet = lambda conv, name: block(conv, self.dropout, self.num_classes, name=name)
    x_pad = jnp.concatenate([x, jnp.ones((b, h, w, 1), x.dtype)], axis=-1)

    # First pass ("up" in the reference): u sees the rows above, ul also the left.
    u_list = [down_shift(DownShiftedConv(f, (2, 3), name="u_in")(x_pad))]
    ul_list = [down_shift(DownShiftedConv(f, (1, 3), name="ul_in_above")(x_pad))
               + right_shift(DownRightShiftedConv(f, (2, 1), name="ul_in_left")(x_pad))]
    for level in range(self.num_resolutions):
      if level > 0:
        u_list.append(DownShiftedConv(f, strides=2, name=f"u_down_{level}")(u_list[-1]))
        ul_list.append(DownRightShiftedConv(f, strides=2, name=f"ul_down_{level}")(ul_list[-1]))
      for r in range(self.nr_resnet):
        u_list.append(resnet(DownShiftedConv, f"up_{level}_u_{r}")(
            u_list[-1], None, labels, train))
        ul_list.append(resnet(DownRightShiftedConv, f"up_{level}_ul_{r}")(
            ul_list[-1], u_list[-1], labels, train))

    # Second pass: back up in resolution, consuming the first pass's outputs
    # in reverse (sec. 2.4's short-cuts); nr_resnet + 1 blocks per level after
    # the coarsest, so every stored output is used once.
    u, ul = u_list.pop(), ul_list.pop()
    for level in reversed(range(self.num_resolutions)):
      n = self.nr_resnet if level == self.num_resolutions - 1 else self.nr_resnet + 1
      for r in range(n):
        u = resnet(DownShiftedConv, f"down_{level}_u_{r}")(
            u, u_list.pop(), labels, train)
        ul = resnet(DownRightShiftedConv, f"down_{level}_ul_{r}")(
            ul, jnp.concatenate([u, ul_list.pop()], axis=-1), labels, train)
      if level > 0:
        u = DownShiftedDeconv(f, name=f"u_upsample_{level}")(u)
        ul = DownRightShiftedDeconv(f, name=f"ul_upsample_{level}")(ul)
    assert not u_list and not ul_list
    out = WNDense(mixture_num_params(c, self.nr_logistic_mix), name="out")(nn.elu(ul))
    return out


def pixelcnnpp_paper_num_params(nr_resnet=5, nr_filters=160, nr_logistic_mix=10,
                                num_channels=3, num_classes=None, num_resolutions=3):
  """The parameter count of PixelCNN++, summed layer by layer from the paper's structure.

  No model is built: each weight-normalised layer with a k_h x k_w kernel,
  c_in inputs and c_out outputs holds k_h k_w c_in c_out (v) + c_out (g) +
  c_out (b) numbers. With F = nr_filters, R = nr_resnet, L = num_resolutions:

    input (C + 1 channels, the ones channel included):
      u: 2x3 conv; ul: 1x3 conv + 2x1 conv, each (C + 1) -> F
    gated ResNet, stream u (2x3) / ul (2x2), concat_elu doubling inputs:
      conv 2F -> F, [nin 2A -> F for a short-cut of A channels], conv 2F -> 2F,
      [class embedding num_classes x 2F]
      first pass: u blocks without short-cut, ul blocks with A = F (u);
      second pass: u blocks with A = F, ul blocks with A = 2F ([u, ul]);
      blocks: first pass R per level, second pass R at the coarsest level and
      R + 1 at each other one (L R and L R + L - 1 in all)
    between levels (L - 1 times each way): stride-2 2x3 (u) and 2x2 (ul)
      convs F -> F down, the same-sized transposed convs up
    output: nin F -> M (1 + 2C + C(C-1)/2)

  How the structure was established: the paper (sec. 2 and Fig. 2) gives the
  two-stream gated-ResNet design, concat_elu, three resolutions with stride-2
  down/up-sampling, the short-cuts between the passes, 5 ResNet layers per
  resolution, 160 filters, 10 mixtures and weight normalisation. Its text
  does not fix the kernel shapes, the nin links or the block counts per
  pass; those are facts of the authors' reference implementation
  (openai/pixel-cnn, ``pixel_cnn_pp/model.py`` and ``nn.py``, read, not
  copied): 2x3 down-shifted and 2x2 down-right-shifted kernels, the 1x3 and
  2x1 input convs on x with a ones channel, nin (1x1) short-cuts, the
  second pass's nr_resnet + 1 blocks at the two finer levels, a final conv
  initialised with scale 0.1, and the class vector as a bias-free matrix
  into the 2F gate pre-activations.

  For CIFAR-10 (defaults) this gives 53,659,080 (53.66M), and the flax model
  has exactly that many parameters (tests). The figure usually quoted for the
  reference model is ~53M, 1.2% below: the reference has the same layers
  (with the same v, g, b per layer; the g's and b's are only ~0.08M here),
  so the quoted figure is most likely this count truncated to 53M; the exact
  published number could not be checked offline.
  """
  f, r, c, l = nr_filters, nr_resnet, num_channels, num_resolutions
  wn = lambda kh, kw, cin, cout: kh * kw * cin * cout + 2 * cout
  emb = 0 if num_classes is None else num_classes * 2 * f

  def block(kh, kw, aux_channels):
    n = wn(kh, kw, 2 * f, f) + wn(kh, kw, 2 * f, 2 * f) + emb
    return n + (wn(1, 1, 2 * aux_channels, f) if aux_channels else 0)

  inputs = wn(2, 3, c + 1, f) + wn(1, 3, c + 1, f) + wn(2, 1, c + 1, f)
  first = l * r * (block(2, 3, 0) + block(2, 2, f))
  second = (l * r + l - 1) * (block(2, 3, f) + block(2, 2, 2 * f))
  resample = 2 * (l - 1) * (wn(2, 3, f, f) + wn(2, 2, f, f))
  output = wn(1, 1, f, mixture_num_params(c, nr_logistic_mix))
  return inputs + first + second + resample + output


def count_params(params):
  """Number of numbers in a parameter pytree (arrays or ShapeDtypeStructs)."""
  return sum(math.prod(p.shape) for p in jax.tree.leaves(params))
