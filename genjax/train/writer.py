"""Metrics to ``<workdir>/metrics.jsonl`` and TensorBoard events under ``<workdir>/tb``.

One JSON object per logged step: ``step``, the metric names, and for training
``images_per_sec``. Only process 0 writes.
"""
import json
import math
import os
import time

import jax
import numpy as np


def _scalar(v):
  if isinstance(v, (int, np.integer)):
    return int(v)
  v = float(np.asarray(v))
  return v if math.isfinite(v) else str(v)   # JSON has no NaN/inf


def read_jsonl(path):
  if not os.path.exists(path):
    return []
  rows = []
  with open(path) as f:
    for line in f:
      line = line.strip()
      if line:
        try:
          rows.append(json.loads(line))
        except json.JSONDecodeError:
          pass  # a line cut by a kill mid-write
  return rows


class MetricWriter:

  def __init__(self, workdir, enabled=None):
    self.enabled = jax.process_index() == 0 if enabled is None else enabled
    self.path = os.path.join(workdir, "metrics.jsonl")
    self._tb = None
    self._tb_dir = os.path.join(workdir, "tb")

  def _board(self):
    if self._tb is None:
      from tensorboardX import SummaryWriter
      self._tb = SummaryWriter(self._tb_dir)
    return self._tb

  def write(self, step, metrics, prefix=""):
    """Appends one row; ``metrics`` maps names to scalars."""
    if not self.enabled:
      return None
    row = {"step": int(step), "time": time.time()}
    row.update({prefix + k: _scalar(v) for k, v in metrics.items()})
    with open(self.path, "a") as f:
      f.write(json.dumps(row) + "\n")
    board = self._board()
    for k, v in row.items():
      if k not in ("step", "time") and isinstance(v, (int, float)):
        board.add_scalar(k, v, int(step))
    board.flush()
    return row

  def close(self):
    if self._tb is not None:
      self._tb.close()
