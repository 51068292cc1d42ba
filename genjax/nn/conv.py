"""THE convolution of genjax, with a formulation chosen per backend.

Every convolution in genjax goes through ``Conv`` (or ``conv2d``), so a faster
path for one backend is dropped in here once. Images are NHWC, kernels HWIO
(as in ``flax.linen.Conv``; the parameters are named ``kernel`` and ``bias``).

Formulations (``impl``), all the same maths:
  'blas'    the native kernels of ``genjax/kernels/cpu_conv.cc`` (an XLA FFI
            custom call, CPU, float32): per image, im2col over a block of
            output rows that fits in cache, then one OpenBLAS sgemm; the input
            and kernel gradients are kernels of the same kind (custom VJPs).
  'xla'     ``lax.conv_general_dilated``.
  'im2col'  pad, take the kh*kw strided shifted views of the input, concatenate
            them on the channel axis and do ONE matmul with the flattened kernel;
            its backward is a matmul plus pad/slice-adds.
  'patches' ``lax.conv_general_dilated_patches`` + matmul (the patch extraction
            is itself a conv, slower still backwards).
  'taps'    a sum of kh*kw matmuls, one per kernel tap (no patch tensor).
``DEFAULT_IMPL`` picks one per backend and stride from measurements
(``benchmarks/conv_layers.py``, 2-core CPU, results in
``benchmarks/results/conv_layers_cpu.json``): on the CPU 'blas' runs the
forward + backward of the U-Net's and the VAE's 3x3 convs at 110-170 GFLOP/s
where XLA's conv (YNNPACK) reaches 45-100 and the 'im2col'/'taps' graphs
15-85 (XLA:CPU moves the shifted views at a few GB/s), for stride 1 and 2
alike, and a whole DDPM U-Net train step ran 1.9x faster. Where the kernels
cannot be built (no C++ compiler or OpenBLAS wheel: a warning says which) the
CPU falls back to ``FALLBACK_IMPL``; other dtypes than float32 use 'xla'.
GPU/TPU use XLA's conv. Before 'blas', what made the CPU fast was ``UpConv``
below, replacing ``nn.ConvTranspose``, whose backward is ~20x its forward
there (UpConv: 2x faster forward+backward on the 14x14x64 -> 28x28x32 layer).

On a mesh of several CPU devices the custom call has no partitioning rule,
so XLA runs it on the whole (gathered) batch on each device: correct, but it
gives up the data parallelism; genjax's CPU default is one device, which the
kernels keep busy on all cores through XLA's thread pool.

``UpConv`` is the 2x (or s x) upsampling layer that replaces a transposed conv:
a stride-1 ``Conv`` to ``features * s * s`` channels followed by depth-to-space,
the sub-pixel convolution of Shi et al. (2016), "Real-Time Single Image and
Video Super-Resolution Using an Efficient Sub-Pixel Convolutional Neural
Network" (their periodic shuffling operator PS). It has the output shape of a
stride-s 'SAME' ``nn.ConvTranspose`` and can represent one (tests show this).
"""
import functools
import warnings
from typing import Any, Callable, Optional, Sequence, Tuple, Union

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.errors import ConfigError, unknown_name
from genjax.kernels import cpu_conv

IMPLS = ("xla", "im2col", "patches", "taps", "blas")
# backend (jax.default_backend()) -> (impl for stride 1, impl for stride > 1);
# backends not listed use 'xla'. Measure with benchmarks/conv_layers.py first.
DEFAULT_IMPL = {"cpu": ("blas", "blas")}
# Where 'blas' cannot be built (genjax.kernels.cpu_conv.unavailable_reason()).
FALLBACK_IMPL = {"cpu": ("xla", "im2col")}

Padding = Union[str, int, Sequence[Tuple[int, int]]]


def default_impl(strides=(1, 1), backend=None):
  """The formulation used for ``strides`` on ``backend`` (default: the running one)."""
  backend = backend or jax.default_backend()
  table = DEFAULT_IMPL
  if "blas" in DEFAULT_IMPL.get(backend, ()) and not cpu_conv.available():
    _warn_fallback()
    table = FALLBACK_IMPL
  unit, strided = table.get(backend, ("xla", "xla"))
  return strided if max(_pair(strides)) > 1 else unit


@functools.cache
def _warn_fallback():
  warnings.warn(f"genjax: the CPU conv kernels are unavailable "
                f"({cpu_conv.unavailable_reason()}); using XLA's convolution.")


def _pair(v):
  return (v, v) if isinstance(v, int) else tuple(v)


def explicit_padding(spatial_shape, kernel_size, strides, padding):
  """'SAME' / 'VALID' / int / ((lo, hi), (lo, hi)) -> explicit pairs per spatial dim."""
  if isinstance(padding, str):
    if padding.upper() not in ("SAME", "VALID"):
      raise unknown_name("padding", padding, ("SAME", "VALID"))
    return tuple(jax.lax.padtype_to_pads(spatial_shape, kernel_size, strides,
                                         padding.upper()))
  if isinstance(padding, int):
    return ((padding, padding),) * len(kernel_size)
  return tuple(tuple(p) for p in padding)


def _conv_xla(x, kernel, strides, pads):
  return jax.lax.conv_general_dilated(
      x, kernel, strides, pads, dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _shifted_views(x, kernel_size, strides, pads):
  """The kh*kw strided views x_pad[:, i::sh, j::sw] of an output's size, tap order (i, j)."""
  (kh, kw), (sh, sw) = kernel_size, strides
  x = jnp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
  ho = (x.shape[1] - kh) // sh + 1
  wo = (x.shape[2] - kw) // sw + 1
  return [x[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw, :]
          for i in range(kh) for j in range(kw)]


def _conv_im2col(x, kernel, strides, pads):
  kh, kw, cin, cout = kernel.shape
  views = _shifted_views(x, (kh, kw), strides, pads)
  cols = views[0] if len(views) == 1 else jnp.concatenate(views, axis=-1)
  # cols[..., (i*kw + j)*cin + c] = x_pad[s*y + i, s*x + j, c]: kernel reshapes row-major.
  return cols @ kernel.reshape(kh * kw * cin, cout)


def _conv_taps(x, kernel, strides, pads):
  kh, kw = kernel.shape[:2]
  views = _shifted_views(x, (kh, kw), strides, pads)
  taps = kernel.reshape(kh * kw, *kernel.shape[2:])
  return sum(v @ taps[t] for t, v in enumerate(views))


def _conv_patches(x, kernel, strides, pads):
  kh, kw, cin, cout = kernel.shape
  cols = jax.lax.conv_general_dilated_patches(
      x, (kh, kw), strides, pads, dimension_numbers=("NHWC", "HWIO", "NHWC"))
  # Patch channels are ordered (c, i, j).
  return cols @ kernel.transpose(2, 0, 1, 3).reshape(cin * kh * kw, cout)


# 'blas': the kernels of genjax/kernels/cpu_conv.cc. The convolution y = A_k x
# is linear in x and in k; its input gradient A_k^T dy ('dx') and kernel
# gradient ('dw') are kernels too, and each of the three has the other two as
# its VJP, so gradients of gradients (R1, path-length penalties) work:
#   <g, A_k^T dy> = <A_k g, dy>       d dy = conv(g, k),   d k = dw(g, dy)
#   <G, dw(x, dy)> = <A_G x, dy>      d dy = conv(x, G),   d x = dx(dy, G)
@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _blas_conv(x, kernel, strides, pads):
  ho = (x.shape[1] + sum(pads[0]) - kernel.shape[0]) // strides[0] + 1
  wo = (x.shape[2] + sum(pads[1]) - kernel.shape[1]) // strides[1] + 1
  return cpu_conv.call("genjax_conv_fwd", (x.shape[0], ho, wo, kernel.shape[3]),
                       x, kernel, strides, pads)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _blas_dx(dy, kernel, x_shape, strides, pads):
  return cpu_conv.call("genjax_conv_dx", x_shape, dy, kernel, strides, pads)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _blas_dw(x, dy, kernel_shape, strides, pads):
  return cpu_conv.call("genjax_conv_dw", kernel_shape, x, dy, strides, pads)


def _conv_fwd(x, kernel, strides, pads):
  return _blas_conv(x, kernel, strides, pads), (x, kernel)


def _conv_bwd(strides, pads, res, dy):
  x, kernel = res
  return (_blas_dx(dy, kernel, x.shape, strides, pads),
          _blas_dw(x, dy, kernel.shape, strides, pads))


def _dx_fwd(dy, kernel, x_shape, strides, pads):
  return _blas_dx(dy, kernel, x_shape, strides, pads), (dy, kernel)


def _dx_bwd(x_shape, strides, pads, res, g):
  dy, kernel = res
  return _blas_conv(g, kernel, strides, pads), _blas_dw(g, dy, kernel.shape, strides, pads)


def _dw_fwd(x, dy, kernel_shape, strides, pads):
  return _blas_dw(x, dy, kernel_shape, strides, pads), (x, dy)


def _dw_bwd(kernel_shape, strides, pads, res, g):
  x, dy = res
  return _blas_dx(dy, g, x.shape, strides, pads), _blas_conv(x, g, strides, pads)


_blas_conv.defvjp(_conv_fwd, _conv_bwd)
_blas_dx.defvjp(_dx_fwd, _dx_bwd)
_blas_dw.defvjp(_dw_fwd, _dw_bwd)


def _conv_blas(x, kernel, strides, pads):
  if (x.dtype != jnp.float32 or kernel.dtype != jnp.float32
      or jax.default_backend() != "cpu" or not cpu_conv.available()):
    return _conv_xla(x, kernel, strides, pads)      # the kernels: float32, CPU only
  return _blas_conv(x, kernel, tuple(strides), tuple(map(tuple, pads)))


_IMPL_FNS = {"blas": _conv_blas, "xla": _conv_xla, "im2col": _conv_im2col, "taps": _conv_taps,
             "patches": _conv_patches}


def conv2d(x, kernel, strides=(1, 1), padding="SAME", impl=None):
  """2-d cross-correlation of NHWC ``x`` with an HWIO ``kernel`` (no bias).

  ``impl`` picks the formulation (see module doc); None = ``default_impl(strides)``.
  """
  strides = _pair(strides)
  impl = impl or default_impl(strides)
  if impl not in _IMPL_FNS:
    raise unknown_name("conv impl", impl, IMPLS)
  if x.ndim != 4:
    raise ValueError(f"conv2d wants NHWC input, got shape {x.shape}.")
  pads = explicit_padding(x.shape[1:3], kernel.shape[:2], strides, padding)
  return _IMPL_FNS[impl](x, kernel, strides, pads)


class Conv(nn.Module):
  """2-d convolution layer (NHWC), drop-in for ``flax.linen.Conv``'s common use."""
  features: int
  kernel_size: Union[int, Sequence[int]] = (3, 3)
  strides: Union[int, Sequence[int]] = (1, 1)
  padding: Padding = "SAME"
  use_bias: bool = True
  kernel_init: Callable[..., Any] = nn.initializers.lecun_normal()
  bias_init: Callable[..., Any] = nn.initializers.zeros
  dtype: Optional[Any] = None
  param_dtype: Any = jnp.float32
  impl: Optional[str] = None        # None: default_impl(strides) of the running backend

  @nn.compact
  def __call__(self, x):
    kh, kw = _pair(self.kernel_size)
    kernel = self.param("kernel", self.kernel_init,
                        (kh, kw, x.shape[-1], self.features), self.param_dtype)
    dtype = self.dtype or jnp.result_type(x, kernel)
    y = conv2d(x.astype(dtype), kernel.astype(dtype), self.strides, self.padding,
               self.impl)
    if self.use_bias:
      bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype)
      y = y + bias.astype(dtype)
    return y


def upsample_nearest(x, factor=2):
  """[B,H,W,C] -> [B,fH,fW,C], each pixel repeated in a factor x factor square."""
  b, h, w, c = x.shape
  x = jnp.broadcast_to(x[:, :, None, :, None, :], (b, h, factor, w, factor, c))
  return x.reshape(b, h * factor, w * factor, c)


def depth_to_space(x, scale):
  """[B,H,W,s*s*C] -> [B,s*H,s*W,C]; channel (a*s + b)*C + c goes to pixel (s*y+a, s*x+b).

  The periodic shuffling PS of Shi et al. (2016), up to a fixed channel order.
  """
  b, h, w, c = x.shape
  sh, sw = _pair(scale)
  if c % (sh * sw):
    raise ValueError(f"depth_to_space: {c} channels not divisible by {sh}*{sw}.")
  x = x.reshape(b, h, w, sh, sw, c // (sh * sw))
  return x.transpose(0, 1, 3, 2, 4, 5).reshape(b, h * sh, w * sw, c // (sh * sw))


def icnr_init(base_init, scale):
  """ICNR (Aitken et al. 2017): every sub-pixel starts with the same kernel.

  At init the sub-pixel conv then equals nearest-neighbour upsampling followed
  by a conv, which avoids checkerboard artefacts. Kernel shape [kh,kw,cin,s*s*C].
  """
  sh, sw = _pair(scale)

  def init(key, shape, dtype=jnp.float32):
    *rest, out = shape
    base = base_init(key, (*rest, out // (sh * sw)), dtype)
    return jnp.tile(base[..., None, :], (1,) * len(rest) + (sh * sw, 1)).reshape(shape)

  return init


class UpConv(nn.Module):
  """s x upsampling: Conv to features*s*s channels + depth-to-space (Shi et al. 2016).

  Output [B, s*H, s*W, features], the shape of a stride-s 'SAME'
  ``nn.ConvTranspose``. The bias is one per output feature (shared by the s*s
  sub-pixels), as a transposed conv's. ``icnr`` initialises the kernel with
  ``icnr_init``.
  """
  features: int
  kernel_size: Union[int, Sequence[int]] = (3, 3)
  scale: int = 2
  use_bias: bool = True
  icnr: bool = True
  kernel_init: Callable[..., Any] = nn.initializers.lecun_normal()
  bias_init: Callable[..., Any] = nn.initializers.zeros
  dtype: Optional[Any] = None
  param_dtype: Any = jnp.float32
  impl: Optional[str] = None

  @nn.compact
  def __call__(self, x):
    sh, sw = _pair(self.scale)
    init = icnr_init(self.kernel_init, self.scale) if self.icnr else self.kernel_init
    y = Conv(self.features * sh * sw, self.kernel_size, padding="SAME",
             use_bias=False, kernel_init=init, dtype=self.dtype,
             param_dtype=self.param_dtype, impl=self.impl, name="conv")(x)
    y = depth_to_space(y, self.scale)
    if self.use_bias:
      bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype)
      y = y + bias.astype(y.dtype)
    return y


def check_divisible(image_shape, num_stages, what="image_shape"):
  """ConfigError unless H and W are divisible by 2**num_stages (stride-2 stages)."""
  h, w = image_shape[:2]
  f = 2 ** num_stages
  if h % f or w % f:
    raise ConfigError(
        f"{what} {tuple(image_shape)} has H={h}, W={w}, but {num_stages} stride-2 "
        f"stages need both divisible by {f}. Use fewer conv stages (shorter "
        f"channels tuple) or resize/pad the images to a multiple of {f}.")
  return h // f, w // f
