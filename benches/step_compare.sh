#!/usr/bin/env bash
# One ResNet-32 training step (32x32x3, CPU) in lt-train vs PyTorch eager, side by side.
#   benches/step_compare.sh [THREADS=2] [STEPS=30] [ROUNDS=2] [BATCH=128]
# e.g. `benches/step_compare.sh 2 30 6 128` and `benches/step_compare.sh 1 30 6 8` (batch 8 on
# one thread: per-operator overhead dominates).
# Runs the two alternately ROUNDS times (lt-train first, then PyTorch), so that each pair sees
# the same machine load, and prints each pair's ratio. The summary gives each side's best median
# and, last, `ratio lt/torch R`: the median of the pair ratios (< 1: lt-train is faster), which
# holds when the machine's speed drifts during the run.
# The Rust side is `lt-train bench` (release), the Python side benches/step_torch.py.
set -euo pipefail
threads=${1:-2}
steps=${2:-30}
rounds=${3:-2}
batch=${4:-128}
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/env.sh
py="$root/.venv/bin/python"

cargo build --release -q --bin lt-train
lt="${CARGO_TARGET_DIR:-$root/target}/release/lt-train"
args=(--model resnet32 --batch "$batch" --threads "$threads" --steps "$steps")

last_ms() { grep -E '^step ms [0-9.]+' | tail -1 | awk '{print $3}'; }
best_rust=""; best_torch=""; ratios=()
for r in $(seq 1 "$rounds"); do
  rs=$("$lt" bench "${args[@]}" 2>&1 | last_ms)
  ts=$("$py" benches/step_torch.py "${args[@]}" | last_ms)
  [[ -n "$rs" && -n "$ts" ]] || { echo "a benchmark printed no 'step ms' line" >&2; exit 1; }
  ratio=$(awk -v a="$rs" -v b="$ts" 'BEGIN{printf "%.3f", a/b}')
  ratios+=("$ratio")
  echo "round $r: lt-train $rs ms, pytorch $ts ms, ratio $ratio"
  best_rust=$(awk -v a="$rs" -v b="${best_rust:-$rs}" 'BEGIN{print (a<b)?a:b}')
  best_torch=$(awk -v a="$ts" -v b="${best_torch:-$ts}" 'BEGIN{print (a<b)?a:b}')
done
echo "lt-train step ms $best_rust (median, best of $rounds rounds, batch $batch, $threads threads)"
echo "pytorch  step ms $best_torch (median, best of $rounds rounds, torch $("$py" -c 'import torch; print(torch.__version__)'))"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%s\n' "${ratios[@]}" | sort -n |
  awk '{v[NR]=$1} END{m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "ratio lt/torch %.3f (median of %d pairs; min %.3f, max %.3f)\n", m, NR, v[1], v[NR]}'
