"""PixelCNN and Gated PixelCNN: masked-convolution autoregressive networks.

Both map images x [B, H, W, C] (binary {0,1}, or 8-bit scaled to [-1, 1]) to
per-sub-pixel distribution parameters [B, H, W, C, num_outputs] such that
``out[b, i, j, c]`` depends only on the pixels before (i, j) in raster order
(all channels) and on channels < c of pixel (i, j) (R -> G -> B), so that
p(x) = prod_{i,j,c} p(x_ijc | out_ijc) is a valid autoregressive likelihood.

* ``PixelCNN``: van den Oord et al. (2016a), "Pixel Recurrent Neural Networks",
  sec. 3.5 and fig. 5: a type-A masked first layer, type-B masked residual
  blocks, two 1x1 masked output layers. Stacked masked 3x3 convolutions leave
  a blind spot up-right of each pixel (the tests show it).
* ``GatedPixelCNN``: van den Oord et al. (2016b), "Conditional Image
  Generation with PixelCNN Decoders", sec. 2.2-2.3 and fig. 2: a vertical
  stack (rows above) and a horizontal stack (the current row, left), which
  together see every earlier pixel of the receptive field (no blind spot);
  gated units y = tanh(W_f * x + V_f h) * sigmoid(W_g * x + V_g h) (eq. 2 and 4)
  with h a learned class embedding.

Channel grouping for C > 1 follows ``genjax.nn.masked``: every feature map is
split into C contiguous groups and every layer that mixes features at the
same pixel is a masked conv (type B) that keeps the grouping.
"""
from typing import Optional

import flax.linen as nn
import jax.numpy as jnp

from genjax.nn.conv import Conv, upsample_nearest
from genjax.nn.masked import MaskedConv, down_shift


def check_inputs(x, labels, num_classes, who):
  """ValueError for non-NHWC images, or labels that do not match ``num_classes``."""
  if x.ndim != 4:
    raise ValueError(f"{who} wants NHWC images [B, H, W, C], got shape {x.shape}.")
  if num_classes is None and labels is not None:
    raise ValueError(f"{who}: labels given to an unconditional model (num_classes=None).")
  if num_classes is not None and labels is None:
    raise ValueError(f"{who}: a class-conditional model (num_classes={num_classes}) "
                     f"needs labels [B].")


def class_bias(labels, num_classes, features, name):
  """A learned per-class vector [B, 1, 1, features] (0 when unconditional).

  One-hot labels times a matrix: the V h term of van den Oord et al. (2016b), eq. 4.
  """
  if num_classes is None:
    return 0.0
  return nn.Embed(num_classes, features, name=name)(labels)[:, None, None, :]


def cond_bias(cond, features, name):
  """V * s of van den Oord et al. (2016b), sec. 2.3, for a spatial condition
  s [B,H,W,F]: a 1x1 projection, [B,H,W,features] (0 without one)."""
  if cond is None:
    return 0.0
  return nn.Dense(features, name=name)(cond)


class ConditionStack(nn.Module):
  """A map of discrete codes [B,h,w] (VQ-VAE-2's top codes) -> the spatial
  condition s [B, f*h, f*w, features] of a prior over a map f times finer:
  a code embedding, nearest upsampling by f, then a residual 3x3 conv block
  (Razavi et al. 2019's conditioning stack, shortened)."""
  num_codes: int
  features: int

  @nn.compact
  def __call__(self, codes, size):
    if (codes.ndim != 3 or size[0] % codes.shape[1] or size[1] % codes.shape[2]
        or size[0] // codes.shape[1] != size[1] // codes.shape[2]):
      raise ValueError(f"The condition wants a code map [B, h, w] that one factor f "
                       f"scales to the prior's map {tuple(size)}; got shape "
                       f"{codes.shape}.")
    s = nn.Embed(self.num_codes, self.features, name="embedding")(codes.astype(jnp.int32))
    s = upsample_nearest(s, size[0] // codes.shape[1])
    y = Conv(self.features, (3, 3), name="conv_0")(nn.relu(s))
    return s + Conv(self.features, (3, 3), name="conv_1")(nn.relu(y))


class OutputHead(nn.Module):
  """ReLU -> 1x1 masked-B conv -> ReLU -> 1x1 masked-B conv to C*P -> [B, H, W, C, P].

  The output features are grouped R, G, B in contiguous blocks of P, so the
  reshape gives channel c the logits that see only channels <= c of the
  layer's input, i.e. channels < c of the image.
  """
  features: int
  num_outputs: int
  num_image_channels: int

  @nn.compact
  def __call__(self, h):
    c, p = self.num_image_channels, self.num_outputs
    h = MaskedConv(self.features, (1, 1), "B", c, name="conv_0")(nn.relu(h))
    h = MaskedConv(c * p, (1, 1), "B", c, name="conv_1")(nn.relu(h))
    return h.reshape(*h.shape[:-1], c, p)


class ResidualBlock(nn.Module):
  """PixelCNN's residual block (van den Oord et al. 2016a, fig. 5), all masks type B.

  x (2h features) -> ReLU -> 1x1 to h -> ReLU -> kxk masked -> (+ class bias)
  -> ReLU -> dropout -> 1x1 to 2h, added to x.
  """
  features: int                  # 2h
  kernel_size: int = 3
  num_image_channels: int = 1
  num_classes: Optional[int] = None
  dropout: float = 0.0

  @nn.compact
  def __call__(self, x, labels=None, train=False):
    n, hidden, k = self.num_image_channels, max(self.features // 2, 1), self.kernel_size
    y = MaskedConv(hidden, (1, 1), "B", n, name="conv_in")(nn.relu(x))
    y = MaskedConv(hidden, (k, k), "B", n, name="conv_masked")(nn.relu(y))
    y = y + class_bias(labels, self.num_classes, hidden, "class_bias")
    y = nn.Dropout(self.dropout, deterministic=not train)(nn.relu(y))
    return x + MaskedConv(self.features, (1, 1), "B", n, name="conv_out")(y)


class PixelCNN(nn.Module):
  """PixelCNN (van den Oord et al. 2016a, sec. 3.5): ``(x, labels=None, train=False)`` -> [B,H,W,C,P].

  Fields: ``features`` the residual stream width (the paper's 2h; blocks
  work at h = features // 2); ``num_layers`` residual blocks; ``num_outputs``
  P parameters per sub-pixel (1: Bernoulli logit, 256: softmax);
  ``num_classes`` a per-class bias in every block (None: unconditional);
  ``dropout`` inside the blocks (train only); ``first_kernel_size`` of the
  type-A layer, ``kernel_size`` of the blocks' masked convs;
  ``output_features`` width of the hidden 1x1 output layer (None: features).
  """
  features: int = 128
  num_layers: int = 15
  num_outputs: int = 256
  num_classes: Optional[int] = None
  dropout: float = 0.0
  first_kernel_size: int = 7
  kernel_size: int = 3
  output_features: Optional[int] = None

  @nn.compact
  def __call__(self, x, labels=None, train=False):
    check_inputs(x, labels, self.num_classes, "PixelCNN")
    c, k0 = x.shape[-1], self.first_kernel_size
    h = MaskedConv(self.features, (k0, k0), "A", c, name="conv_in")(x)
    for layer in range(self.num_layers):
      h = ResidualBlock(self.features, self.kernel_size, c, self.num_classes,
                        self.dropout, name=f"block_{layer}")(h, labels, train)
    return OutputHead(self.output_features or self.features, self.num_outputs, c,
                      name="head")(h)


def gate(a):
  """The gated unit of van den Oord et al. (2016b), eq. 2: tanh(first half) * sigmoid(second half)."""
  f, g = jnp.split(a, 2, axis=-1)
  return jnp.tanh(f) * nn.sigmoid(g)


class VerticalStack(nn.Module):
  """Gated PixelCNN's vertical stack (van den Oord et al. 2016b, fig. 2, left).

  Layer l convolves the previous vertical map with a (r+1) x k kernel over
  rows i - r .. i (r = k // 2), so its output at row i sees rows <= i only. It
  is never fed to the horizontal stack unshifted: the horizontal stack at row
  i receives the 1x1 projection of the *down-shifted* pre-gate map, which sees
  rows < i only. Returns those projections, one per horizontal layer:
  [L, B, H, W, 2 * features].
  """
  features: int
  num_layers: int
  first_kernel_size: int = 7
  kernel_size: int = 3
  num_classes: Optional[int] = None

  @nn.compact
  def __call__(self, x, labels=None, cond=None):
    v, links = x, []
    for layer in range(self.num_layers):
      k = self.first_kernel_size if layer == 0 else self.kernel_size
      r = k // 2
      a = Conv(2 * self.features, (r + 1, k), padding=((r, 0), (r, r)),
               name=f"conv_{layer}")(v)
      # The vertical -> horizontal 1x1 link, from the down-shifted stack (fig. 2).
      link = nn.Dense(2 * self.features, name=f"to_horizontal_{layer}")(down_shift(a))
      # A spatial condition s (known everywhere) enters both stacks as V * s
      # (sec. 2.3); its horizontal term rides on the link, so the row-cached
      # generator needs nothing more.
      links.append(link + cond_bias(cond, 2 * self.features, f"cond_h_{layer}"))
      if layer + 1 < self.num_layers:   # the last layer's gated output is unused
        v = gate(a + class_bias(labels, self.num_classes, 2 * self.features,
                                f"class_{layer}")
                 + cond_bias(cond, 2 * self.features, f"cond_v_{layer}"))
    return jnp.stack(links)


class HorizontalStack(nn.Module):
  """Gated PixelCNN's horizontal stack and output head (van den Oord et al. 2016b, fig. 2, right).

  Row-local: every conv is 1 x k (masked: left of the centre, and the centre
  through the R, G, B groups; type A in the first layer, B after), so it can
  run on a single row given that row's vertical-stack inputs ``links``
  [L, B, rows, W, 2 * features]. Layer l: a = hconv(h) + links[l] + V h_class;
  y = 1x1(gate(a)); h <- h + y (no residual on the first layer, whose input
  is the image). Returns [B, rows, W, C, P].
  """
  features: int
  num_layers: int
  num_outputs: int
  first_kernel_size: int = 7
  kernel_size: int = 3
  num_classes: Optional[int] = None
  dropout: float = 0.0
  output_features: Optional[int] = None
  num_image_channels: Optional[int] = None   # None: x's channels (not embedded)

  @nn.compact
  def __call__(self, x, links, labels=None, train=False):
    c, h = self.num_image_channels or x.shape[-1], x
    for layer in range(self.num_layers):
      first = layer == 0
      k = self.first_kernel_size if first else self.kernel_size
      a = MaskedConv(2 * self.features, (1, k), "A" if first else "B", c, num_splits=2,
                     name=f"conv_{layer}")(h)
      a = a + links[layer] + class_bias(labels, self.num_classes, 2 * self.features,
                                        f"class_{layer}")
      y = nn.Dropout(self.dropout, deterministic=not train)(gate(a))
      y = MaskedConv(self.features, (1, 1), "B", c, name=f"conv_out_{layer}")(y)
      h = y if first else h + y
    return OutputHead(self.output_features or self.features, self.num_outputs, c,
                      name="head")(h)


class GatedPixelCNN(nn.Module):
  """Gated PixelCNN (van den Oord et al. 2016b): ``(x, labels=None, train=False)`` -> [B,H,W,C,P].

  Fields: ``features`` p, the width of both stacks (gates work on 2p);
  ``num_layers`` gated layers; ``num_outputs`` P; ``num_classes`` the class
  embedding h of eq. 4 (None: unconditional); ``dropout`` on the horizontal
  stack's gated units (train only); ``first_kernel_size`` / ``kernel_size``
  the n of the first / later n x n receptive fields; ``output_features``;
  ``num_input_codes`` K: the input is a map of discrete codes [B,H,W,1] (a
  VQ-VAE's, as float indices) that a learned embedding turns into
  ``features`` numbers per position before both stacks (None: an image);
  ``num_cond_codes`` K': the model also takes ``cond``, a coarser code map
  int [B,h,w] (VQ-VAE-2's top codes), as a spatial condition of both stacks
  (``ConditionStack``, ``cond_bias``; None: no such input).

  Cached generation splits the net in two row-local halves sharing parameters:
  ``vertical_features(x, labels)`` -> [L, B, H, W, 2p], whose row i depends on
  rows < i of x only, and ``horizontal_row(x_row, v_row, labels)`` ->
  [B, 1, W, C, P] for one row and that row of ``vertical_features``; it equals
  row i of the full forward.
  """
  features: int = 128
  num_layers: int = 15
  num_outputs: int = 256
  num_classes: Optional[int] = None
  dropout: float = 0.0
  first_kernel_size: int = 7
  kernel_size: int = 3
  output_features: Optional[int] = None
  num_input_codes: Optional[int] = None
  num_cond_codes: Optional[int] = None

  def setup(self):
    self.vertical = VerticalStack(self.features, self.num_layers, self.first_kernel_size,
                                  self.kernel_size, self.num_classes)
    self.horizontal = HorizontalStack(
        self.features, self.num_layers, self.num_outputs, self.first_kernel_size,
        self.kernel_size, self.num_classes, self.dropout, self.output_features,
        1 if self.num_input_codes else None)
    if self.num_input_codes:
      self.code_embedding = nn.Embed(self.num_input_codes, self.features)
    if self.num_cond_codes:
      self.condition = ConditionStack(self.num_cond_codes, self.features)

  def spatial_condition(self, x, cond):
    """The condition s of a map of ``cond`` codes [B,h,w] (None: none)."""
    if bool(self.num_cond_codes) != (cond is not None):
      raise ValueError(
          "GatedPixelCNN: a condition map is given to a model without one, or "
          f"missing (num_cond_codes={self.num_cond_codes}, cond given: "
          f"{cond is not None}).")
    return None if cond is None else self.condition(cond, x.shape[1:3])

  def stack_inputs(self, x):
    """What both stacks see: the image, or the embedding of a code map."""
    if not self.num_input_codes:
      return x
    if x.shape[-1] != 1:
      raise ValueError(f"GatedPixelCNN over codes wants a code map [B, H, W, 1], "
                       f"got shape {x.shape}.")
    return self.code_embedding(x[..., 0].astype(jnp.int32))

  def __call__(self, x, labels=None, train=False, cond=None):
    check_inputs(x, labels, self.num_classes, "GatedPixelCNN")
    s = self.spatial_condition(x, cond)
    x = self.stack_inputs(x)
    return self.horizontal(x, self.vertical(x, labels, s), labels, train)

  def vertical_features(self, x, labels=None, cond=None):
    """[L, B, H, W, 2p]: what horizontal layer l adds at each pixel; row i sees rows < i."""
    check_inputs(x, labels, self.num_classes, "GatedPixelCNN")
    return self.vertical(self.stack_inputs(x), labels, self.spatial_condition(x, cond))

  def horizontal_row(self, x_row, v_row, labels=None, train=False):
    """[B, R, W, C, P] for rows ``x_row`` [B, R, W, C] and their ``v_row`` [L, B, R, W, 2p]."""
    check_inputs(x_row, labels, self.num_classes, "GatedPixelCNN")
    return self.horizontal(self.stack_inputs(x_row), v_row, labels, train)
