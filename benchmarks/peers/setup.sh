#!/usr/bin/env bash
# The benchmark venv of benchmarks/peers.py: PyTorch + diffusers, kept apart
# from genjax's .venv (genjax never imports torch).
#
#   bash benchmarks/peers/setup.sh          # creates .venv-bench/ at the repo root
#
# torch is pinned to exactly 2.13.0: on the project's machines that version
# installs a CPU build from a local wheel; any other version pulls the CUDA
# wheels (gigabytes).
set -euo pipefail
cd "$(dirname "$0")/../.."
python3.11 -m venv .venv-bench
.venv-bench/bin/pip install torch==2.13.0 'diffusers==0.39.*' numpy
.venv-bench/bin/python -c "import torch, diffusers; print('torch', torch.__version__, '| diffusers', diffusers.__version__)"
