"""PixelRNN: Row LSTM and Diagonal BiLSTM (van den Oord et al. 2016, "Pixel Recurrent Neural Networks").

Both map x [B, H, W, C] to [B, H, W, C, num_outputs] with the causality of
``genjax.families.autoregressive.pixelcnn``: a type-A masked 7x7 first layer,
``num_layers`` residual LSTM layers (sec. 3.4, "Residual Connections": the
2h-feature input map goes through an LSTM of h units and a 1x1 conv back to
2h, added to the input), then ReLU and 1x1 masked-B output layers.

Each LSTM layer computes, for all its gates at once (sec. 3.1, eq. 3),
  [o, f, i, g] = sigma(K_ss * h_prev + K_is * x)
  c = f . c_prev + i . g,   h = o . tanh(c)
with sigma the logistic sigmoid for o, f, i and tanh for g. K_is (the
input-to-state conv) runs once over the whole map; K_ss (state-to-state)
inside a ``jax.lax.scan`` over rows (Row LSTM) or skewed columns (Diagonal
BiLSTM). K_is is masked type B with its four gate blocks each grouped R, G, B,
so the gates of colour group c see only groups <= c of the current pixel;
K_ss reads states of earlier pixels only and needs no mask (sec. 3.4).
"""
from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.families.autoregressive.pixelcnn import OutputHead, check_inputs, class_bias
from genjax.nn.conv import conv2d
from genjax.nn.masked import MaskedConv, down_shift

# The state-to-state convolutions run once per row / column inside
# ``lax.scan`` on a one-row tensor. There XLA:CPU's convolution is 3.8-5.8x slower
# than a sum of one matmul per tap (fwd+bwd of one 32-feature layer, batch 64,
# 2-core CPU: Row LSTM 1108 -> 191 ms, Diagonal BiLSTM 2317 -> 616 ms;
# ``benchmarks/conv_layers.py --only scan``), so they use 'taps' on every backend.
SCAN_CONV_IMPL = "taps"


def lstm_update(z, c_prev):
  """Eq. 3 of van den Oord et al. (2016): gate pre-activations z [..., 4h] = [o, f, i, g] -> (h, c)."""
  o, f, i, g = jnp.split(z, 4, axis=-1)
  c = nn.sigmoid(f) * c_prev + nn.sigmoid(i) * jnp.tanh(g)
  return nn.sigmoid(o) * jnp.tanh(c), c


def skew(x):
  """[B, H, W, F] -> [B, H, W + H - 1, F]: row i shifted right by i (sec. 3.2, fig. 3).

  After skewing, the pixels (i, j - 1) (left) and (i - 1, j) (above) of pixel
  (i, j) are both in the previous column, so one column step covers the
  diagonal dependency. Done as pad-right-by-H, flatten, drop the last H,
  reshape: element (i, j) lands at flat i (W + H - 1) + (i + j).
  """
  b, h, w, f = x.shape
  flat = jnp.pad(x, ((0, 0), (0, 0), (0, h), (0, 0))).reshape(b, h * (w + h), f)
  return flat[:, :h * (w + h - 1)].reshape(b, h, w + h - 1, f)


def unskew(y, width):
  """Inverse of ``skew``: [B, H, width + H - 1, F] -> [B, H, width, F]."""
  b, h, _, f = y.shape
  flat = jnp.pad(y.reshape(b, h * (width + h - 1), f), ((0, 0), (0, h), (0, 0)))
  return flat.reshape(b, h, width + h, f)[:, :, :width]


class RowLSTMLayer(nn.Module):
  """Row LSTM (sec. 3.1): scans rows; K_is a masked 1 x k conv, K_ss a 1 x k conv of the row above.

  The state of pixel (i, j) sees the previous row's states at j - r .. j + r
  (r = k // 2): a triangular receptive field above the pixel. [B,H,W,F] -> [B,H,W,hidden].
  """
  hidden: int
  num_image_channels: int = 1
  kernel_size: int = 3

  @nn.compact
  def __call__(self, x):
    b, _, w, _ = x.shape
    k, hid = self.kernel_size, self.hidden
    z = MaskedConv(4 * hid, (1, k), "B", self.num_image_channels, num_splits=4,
                   name="input_to_state")(x)
    k_ss = self.param("state_to_state", nn.initializers.lecun_normal(),
                      (1, k, hid, 4 * hid), jnp.float32)

    def row_step(carry, z_row):      # z_row [B, W, 4h]
      h_prev, c_prev = carry
      z_row = z_row + conv2d(h_prev[:, None], k_ss, impl=SCAN_CONV_IMPL)[:, 0]
      h, c = lstm_update(z_row, c_prev)
      return (h, c), h

    zeros = jnp.zeros((b, w, hid), z.dtype)
    _, hs = jax.lax.scan(row_step, (zeros, zeros), jnp.moveaxis(z, 1, 0))
    return jnp.moveaxis(hs, 0, 1)


class DiagonalLSTM(nn.Module):
  """One direction of the Diagonal BiLSTM (sec. 3.2), left to right along diagonals.

  K_is is a 1x1 masked conv; the map is skewed and the columns are scanned,
  K_ss a 2 x 1 conv of the previous column's states (rows i - 1 and i of the
  skewed map: the pixels above and to the left). [B,H,W,F] -> [B,H,W,hidden].
  """
  hidden: int
  num_image_channels: int = 1

  @nn.compact
  def __call__(self, x):
    b, h, w, _ = x.shape
    hid = self.hidden
    z = MaskedConv(4 * hid, (1, 1), "B", self.num_image_channels, num_splits=4,
                   name="input_to_state")(x)
    k_ss = self.param("state_to_state", nn.initializers.lecun_normal(),
                      (2, 1, hid, 4 * hid), jnp.float32)

    def column_step(carry, z_col):   # z_col [B, H, 4h]
      h_prev, c_prev = carry
      s = conv2d(h_prev[:, :, None], k_ss, padding=((1, 0), (0, 0)),
                 impl=SCAN_CONV_IMPL)[:, :, 0]
      h_col, c = lstm_update(z_col + s, c_prev)
      return (h_col, c), h_col

    zeros = jnp.zeros((b, h, hid), z.dtype)
    _, hs = jax.lax.scan(column_step, (zeros, zeros), jnp.moveaxis(skew(z), 2, 0))
    return unskew(jnp.moveaxis(hs, 0, 2), w)


class DiagonalBiLSTMLayer(nn.Module):
  """Both diagonal directions (sec. 3.2): the right-to-left one runs on the mirrored map.

  Mirrored, it sees the current row to the RIGHT of each pixel, so its output
  is shifted down one row before being added: then it only brings in rows
  above, and with the left-to-right direction the net sees every earlier
  pixel but one: the last pixel (i - 1, W - 1) of the previous row reaches
  (i, j) only through the 7x7 first layer (when j + 3 >= W - 1), because no
  feature of row i - 1 sees it (mask A keeps a pixel out of its own
  features, and nothing lies right of it). The tests pin this field exactly.
  """
  hidden: int
  num_image_channels: int = 1

  @nn.compact
  def __call__(self, x):
    left = DiagonalLSTM(self.hidden, self.num_image_channels, name="left_to_right")(x)
    right = DiagonalLSTM(self.hidden, self.num_image_channels,
                         name="right_to_left")(x[:, :, ::-1])[:, :, ::-1]
    return left + down_shift(right)


class _PixelRNN(nn.Module):
  """The PixelRNN body shared by ``RowLSTM`` and ``DiagonalBiLSTM`` (sec. 3.4, fig. 2).

  Fields: ``features`` the residual stream width (2h; the LSTMs have
  h = features // 2 units); ``num_layers`` LSTM layers; ``num_outputs`` P;
  ``num_classes`` a learned per-class bias added to every layer's input
  (None: unconditional); ``dropout`` on the LSTM outputs (train only);
  ``first_kernel_size`` of the type-A layer; ``output_features`` width of the
  hidden 1x1 output layer (None: features).
  """
  features: int = 128
  num_layers: int = 7
  num_outputs: int = 256
  num_classes: Optional[int] = None
  dropout: float = 0.0
  first_kernel_size: int = 7
  output_features: Optional[int] = None

  def lstm(self, hidden, c, name):
    """The LSTM layer module of this PixelRNN ([B,H,W,F] -> [B,H,W,hidden]);
    each subclass (RowLSTM, DiagonalBiLSTM) supplies its own."""
    raise TypeError("_PixelRNN is the shared body of RowLSTM and DiagonalBiLSTM; "
                    "use one of those.")

  @nn.compact
  def __call__(self, x, labels=None, train=False):
    check_inputs(x, labels, self.num_classes, type(self).__name__)
    c, k0 = x.shape[-1], self.first_kernel_size
    hidden = max(self.features // 2, c)
    h = MaskedConv(self.features, (k0, k0), "A", c, name="conv_in")(x)
    for layer in range(self.num_layers):
      y = h + class_bias(labels, self.num_classes, self.features, f"class_{layer}")
      y = self.lstm(hidden, c, f"lstm_{layer}")(y)
      y = nn.Dropout(self.dropout, deterministic=not train)(y)
      h = h + MaskedConv(self.features, (1, 1), "B", c, name=f"conv_out_{layer}")(y)
    return OutputHead(self.output_features or self.features, self.num_outputs, c,
                      name="head")(h)


class RowLSTM(_PixelRNN):
  """Row LSTM PixelRNN (sec. 3.1): ``(x, labels=None, train=False)`` -> [B,H,W,C,P].

  ``kernel_size`` k of its 1 x k input-to-state and state-to-state convs
  (the paper's k = 3). Default 12 layers as the paper's CIFAR-10 Row LSTM.
  """
  num_layers: int = 12
  kernel_size: int = 3

  def lstm(self, hidden, c, name):
    return RowLSTMLayer(hidden, c, self.kernel_size, name=name)


class DiagonalBiLSTM(_PixelRNN):
  """Diagonal BiLSTM PixelRNN (sec. 3.2): ``(x, labels=None, train=False)`` -> [B,H,W,C,P]."""

  def lstm(self, hidden, c, name):
    return DiagonalBiLSTMLayer(hidden, c, name=name)
