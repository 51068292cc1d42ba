"""Brute-force float64 numpy references for the StyleGAN layers' tests (loops, no tricks)."""
import numpy as np


def zero_insert(x, up):
  """[B,H,W,C] -> [B,up*H,up*W,C]: pixel (i, j) goes to (up*i, up*j), zeros elsewhere."""
  b, h, w, c = x.shape
  out = np.zeros((b, up * h, up * w, c))
  for i in range(h):
    for j in range(w):
      out[:, up * i, up * j] = x[:, i, j]
  return out


def pad_or_crop(x, pads):
  """Zero-pad (or crop, negative) H by pads[0] and W by pads[1]."""
  (t, b), (l, r) = pads
  x = np.pad(x, ((0, 0), (max(t, 0), max(b, 0)), (max(l, 0), max(r, 0)), (0, 0)))
  return x[:, max(-t, 0):x.shape[1] - max(-b, 0), max(-l, 0):x.shape[2] - max(-r, 0)]


def correlate_valid(x, kernel):
  """y[i, j, o] = sum_{a,b,c} x[i+a, j+b, c] kernel[a, b, c, o] ('VALID' cross-correlation)."""
  kh, kw = kernel.shape[:2]
  b, h, w, _ = x.shape
  out = np.zeros((b, h - kh + 1, w - kw + 1, kernel.shape[3]))
  for i in range(out.shape[1]):
    for j in range(out.shape[2]):
      patch = x[:, i:i + kh, j:j + kw, :]
      out[:, i, j] = np.einsum("bhwc,hwco->bo", patch, kernel)
  return out


def upfirdn(x, f, up=1, down=1, pads=((0, 0), (0, 0)), gain=1.0):
  """Zero-insert, pad, correlate each channel with the flipped filter, keep every down-th."""
  x = pad_or_crop(zero_insert(np.asarray(x, np.float64), up), pads)
  c = x.shape[-1]
  f = np.asarray(f, np.float64)[::-1, ::-1] * gain
  depthwise = np.zeros(f.shape + (c, c))
  for ch in range(c):
    depthwise[:, :, ch, ch] = f
  return correlate_valid(x, depthwise)[:, ::down, ::down]


def resample_conv(x, kernel, f, up=1, down=1):
  """StyleGAN2's conv2d_resample by its generic definition (odd kernel, padding k // 2).

  up 2: upfirdn(x, f, up=2, pad=(p + (n+1)//2, p + (n-2)//2), gain 4), then a
  'VALID' correlation; down 2: upfirdn(x, f, pad=(p + (n-1)//2, p + (n-2)//2)),
  then a stride-2 'VALID' correlation; else a correlation with padding p.
  """
  kh, kw = kernel.shape[:2]
  n = f.shape[0]
  x = np.asarray(x, np.float64)
  kernel = np.asarray(kernel, np.float64)
  if up == 2:
    pads = tuple((p + (n + 1) // 2, p + (n - 2) // 2) for p in (kh // 2, kw // 2))
    return correlate_valid(upfirdn(x, f, up=2, pads=pads, gain=4.0), kernel)
  if down == 2:
    pads = tuple((p + (n - 1) // 2, p + (n - 2) // 2) for p in (kh // 2, kw // 2))
    return correlate_valid(upfirdn(x, f, pads=pads), kernel)[:, ::2, ::2]
  return correlate_valid(pad_or_crop(x, ((kh // 2,) * 2, (kw // 2,) * 2)), kernel)
