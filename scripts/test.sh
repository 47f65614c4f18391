#!/usr/bin/env bash
# The test command of the README: set up what is missing, then every test of the workspace,
# formatting and lints.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --release -- -D warnings
cargo test --workspace --release
# The GPU device check on the CPU with tiny sizes, so the script a GPU machine runs cannot rot.
bash scripts/gpu-check.sh --cpu
