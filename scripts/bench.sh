#!/usr/bin/env bash
# Every benchmark of the README, one after the other (run on a quiet machine):
#   1. lt-data build vs Python/PIL multiprocessing (raw IDX, JPEG tree)
#   2. the loader vs torch DataLoader + torchvision (raw CIFAR-10-LT, JPEG at 224)
#   3. one ResNet-32 training step, lt-train vs PyTorch eager (batch 128 / all cores, batch 8 / 1 thread)
#   4. one gradient all-reduce of ResNet-32 / ResNet-50 over Gloo, 2 processes
#   5. plugin dispatch cost vs a direct call
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release --workspace -q
echo "== build";     cargo bench -q -p lt-data --bench build 2>&1 | grep -v "^$"
echo "== loader";    cargo bench -q -p lt-data --bench loader 2>&1 | grep -v "^$"
echo "== step";      bash benches/step_compare.sh "$(nproc)" 30 6 128
echo "== step (batch 8, 1 thread)"; bash benches/step_compare.sh 1 30 6 8
echo "== allreduce"; cargo run -q --release -p lt-core --example allreduce_bench -- --runs 15
echo "== plugin";    cargo bench -q -p lt-core --bench plugin_dispatch 2>&1 | grep -v "^$"
