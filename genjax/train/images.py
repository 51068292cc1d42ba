"""Image grids as PNG files."""
import os

import numpy as np
from PIL import Image


def to_uint8(images):
  """Floats in [0,1] -> uint8 (round to nearest, clip)."""
  return np.clip(np.rint(np.asarray(images, np.float32) * 255.0), 0, 255).astype(np.uint8)


def tile(grid, pad=1, pad_value=1.0):
  """[R, C, H, W, ch] in [0,1] -> one [R*(H+pad)+pad, C*(W+pad)+pad, ch] image."""
  grid = np.asarray(grid, np.float32)
  r, c, h, w, ch = grid.shape
  out = np.full((r * (h + pad) + pad, c * (w + pad) + pad, ch), pad_value,
                np.float32)
  for i in range(r):
    for j in range(c):
      y, x = pad + i * (h + pad), pad + j * (w + pad)
      out[y:y + h, x:x + w] = grid[i, j]
  return out


def as_grid(images, cols=None):
  """[N, H, W, ch] -> [R, C, H, W, ch], padding the last row with white."""
  images = np.asarray(images, np.float32)
  n = images.shape[0]
  cols = cols or int(np.ceil(np.sqrt(n)))
  rows = int(np.ceil(n / cols))
  padded = np.ones((rows * cols,) + images.shape[1:], np.float32)
  padded[:n] = images
  return padded.reshape((rows, cols) + images.shape[1:])


def save_grid(grid, path):
  """Writes a [R, C, H, W, ch] grid (or [N, H, W, ch] images) in [0,1] as PNG."""
  grid = np.asarray(grid)
  if grid.ndim == 4:
    grid = as_grid(grid)
  img = to_uint8(tile(grid))
  if img.shape[-1] == 1:
    img = img[..., 0]
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = path + ".tmp.png"
  Image.fromarray(img).save(tmp)
  os.replace(tmp, path)
  return path
