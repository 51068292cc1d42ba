#!/usr/bin/env bash
# Starts N local processes of one genjax run (jax.distributed on loopback,
# gloo collectives on CPU): a try-out of multi-process training on one machine.
#
#   bash scripts/launch_local.sh 2 --config experiments/autoencoder/vae_mnist.py:smoke \
#       --workdir /tmp/mp --config.data.process_sharding=batch
#
# Each process gets $JAX_COORDINATOR_ADDRESS / $JAX_NUM_PROCESSES /
# $JAX_PROCESS_ID (what launch.py reads, genjax/core/sharding.py) and one CPU
# device; process i writes its output to <workdir>.process_<i>.log. On a
# cluster start one launch.py per host with the same three variables (or,
# under SLURM / Open MPI / on a TPU pod, set GENJAX_DISTRIBUTED=1 and let jax
# find them): docs/architecture.md, "Several processes".
set -euo pipefail
if [ $# -lt 2 ] || ! [[ "$1" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: bash scripts/launch_local.sh N launch.py-arguments..." >&2
  exit 2
fi
N=$1; shift
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python
WORKDIR=$(printf '%s\n' "$@" | sed -n 's/^--workdir=//p')
if [ -z "$WORKDIR" ]; then
  prev=""; for a in "$@"; do [ "$prev" = "--workdir" ] && WORKDIR=$a; prev=$a; done
fi
LOGS="${WORKDIR:-/tmp/genjax}"
PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pids=()
for ((i = 0; i < N; i++)); do
  JAX_COORDINATOR_ADDRESS="127.0.0.1:$PORT" JAX_NUM_PROCESSES=$N JAX_PROCESS_ID=$i \
    JAX_PLATFORMS="${JAX_PLATFORMS:-cpu}" \
    XLA_FLAGS="${XLA_FLAGS:---xla_force_host_platform_device_count=1}" \
    "$PYTHON" "$ROOT/launch.py" "$@" >"$LOGS.process_$i.log" 2>&1 &
  pids+=($!)
done
status=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    status=1; echo "process $i failed: see $LOGS.process_$i.log" >&2
  fi
done
[ $status -eq 0 ] && echo "all $N processes finished; process 0's output: $LOGS.process_0.log"
exit $status
