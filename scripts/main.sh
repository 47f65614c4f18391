#!/usr/bin/env bash
# The main job, end to end on a fresh machine: set up, build Fashion-MNIST-LT (imbalance 100,
# the LDAM/MiSLAS numpy-identical selection), inspect it, then train MiSLAS on it (stage 1 with
# mixup, stage 2 with label-aware smoothing and learnable weight scaling) and report top-1,
# many/medium/few accuracy and ECE, with the reliability diagram in runs/fmnist-lt-mislas/.
#   EPOCHS=N STAGE2_EPOCHS=M bash scripts/main.sh   shortens the run (default: the reference
#   protocol of ../shared/reference/fmnist-lt.md, 30 + 10 epochs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
bin=target/release
$bin/lt-data build --dataset fashion-mnist --imbalance 100 --compat ldam --out data/fmnist-lt
$bin/lt-data inspect data/fmnist-lt --plot data/fmnist-lt-counts.png
$bin/lt-data verify data/fmnist-lt
args=(--plugin mislas --config configs/mislas/fashion-mnist-lt.toml --dataset data/fmnist-lt --out runs/fmnist-lt-mislas)
[ -n "${EPOCHS:-}" ] && args+=(--epochs "$EPOCHS")
[ -n "${STAGE2_EPOCHS:-}" ] && args+=(--stage2-epochs "$STAGE2_EPOCHS")
rm -rf runs/fmnist-lt-mislas
$bin/lt-train "${args[@]}"
