#!/usr/bin/env bash
# One training step of ResNet-32 (batch 128, 32x32x3, CPU) in lt-train vs PyTorch eager, in one go.
#   benches/step_compare.sh [THREADS=2] [STEPS=30] [ROUNDS=2]
# Runs the two alternately ROUNDS times (so both see the same machine load), keeps each side's
# best median, and prints `ratio lt/torch R` last (< 1: lt-train is faster).
# The Rust side is `lt-train bench` (release).
set -euo pipefail
threads=${1:-2}
steps=${2:-30}
rounds=${3:-2}
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/env.sh
py="$root/.venv/bin/python"

cargo build --release -q -p lt-train-cli
lt="${CARGO_TARGET_DIR:-$root/target}/release/lt-train"
rust_cmd=("$lt" bench --model resnet32 --batch 128 --threads "$threads" --steps "$steps")

last_ms() { grep -E '^step ms [0-9.]+' | tail -1 | awk '{print $3}'; }
best_rust=""; best_torch=""
for r in $(seq 1 "$rounds"); do
  rs=$("${rust_cmd[@]}" 2>&1 | last_ms)
  ts=$("$py" benches/step_torch.py --model resnet32 --batch 128 --threads "$threads" --steps "$steps" | last_ms)
  [[ -n "$rs" && -n "$ts" ]] || { echo "a benchmark printed no 'step ms' line" >&2; exit 1; }
  echo "round $r: lt-train $rs ms, pytorch $ts ms"
  best_rust=$(awk -v a="$rs" -v b="${best_rust:-$rs}" 'BEGIN{print (a<b)?a:b}')
  best_torch=$(awk -v a="$ts" -v b="${best_torch:-$ts}" 'BEGIN{print (a<b)?a:b}')
done
echo "lt-train step ms $best_rust (median, best of $rounds rounds, $threads threads)"
echo "pytorch  step ms $best_torch (median, best of $rounds rounds, torch $("$py" -c 'import torch; print(torch.__version__)'))"
awk -v a="$best_rust" -v b="$best_torch" 'BEGIN{printf "ratio lt/torch %.3f\n", a/b}'
