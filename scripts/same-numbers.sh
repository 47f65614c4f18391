#!/usr/bin/env bash
# Checks that a refactor changed no number: builds Fashion-MNIST-LT and runs every row of
# scripts/results.sh (short: 1 stage-1 epoch, 1 stage-2 epoch, one libtorch thread) with two sets
# of binaries, then compares the dataset files and each run's metrics.json byte for byte.
#   bash scripts/same-numbers.sh OLD_BIN_DIR NEW_BIN_DIR [OUT_DIR]
# A bin dir holds lt-data, lt-train and the plugin .so files (a copy of target/release's).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
[ $# -ge 2 ] || { echo "usage: $0 OLD_BIN_DIR NEW_BIN_DIR [OUT_DIR]" >&2; exit 2; }
OLD=$(realpath "$1"); NEW=$(realpath "$2"); OUT=${3:-runs/same-numbers}
rows=(ce ce-mixup ldam-drw balanced-softmax mislas crt lws tau-norm logit-adjustment)
run_all() { # bin dir, out dir
    local B=$1 R=$2
    mkdir -p "$R"
    [ -f "$R/data/manifest.json" ] ||
        "$B/lt-data" build --dataset fashion-mnist --imbalance 100 --compat ldam --out "$R/data" -q
    local common=(--dataset "$R/data" --epochs 1 --quiet --eval-every 1 --set threads=1
                  --set loader_threads=1 --set stage1.warmup_epochs=5 --set 'stage1.milestones=[0.8, 0.9]')
    local s1ce="$R/ce/checkpoints/stage1-final.safetensors" s1mix="$R/ce-mixup/checkpoints/stage1-final.safetensors"
    local -A args=(
        [ce]=""
        [ce-mixup]="--set stage1.mixup_alpha=1.0"
        [ldam-drw]="--plugin ldam"
        [balanced-softmax]="--plugin rebalance --set stage1.loss=balanced-softmax"
        [mislas]="--plugin mislas --config configs/mislas/fashion-mnist-lt.toml --set init_checkpoint=\"$s1mix\" --set stage2.epochs=1"
        [crt]="--plugin decoupling --config configs/decoupling/crt.toml --set init_checkpoint=\"$s1ce\" --set stage2.epochs=1"
        [lws]="--plugin decoupling --config configs/decoupling/lws.toml --set init_checkpoint=\"$s1ce\" --set stage2.epochs=1"
        [tau-norm]="--plugin decoupling --config configs/decoupling/tau-norm.toml --set init_checkpoint=\"$s1ce\""
        [logit-adjustment]="--plugin rebalance --config configs/logit-adjustment-posthoc.toml --set init_checkpoint=\"$s1ce\""
    )
    for name in "${rows[@]}"; do
        [ -f "$R/$name/metrics.json" ] && continue
        eval "extra=(${args[$name]})"
        LT_PLUGIN_PATH="$B" "$B/lt-train" "${common[@]}" --out "$R/$name" "${extra[@]}" > "$R/$name.log" 2>&1 ||
            { echo "$B/lt-train: row $name failed, see $R/$name.log" >&2; exit 1; }
    done
}
run_all "$OLD" "$OUT/old"
run_all "$NEW" "$OUT/new"
diffs=0
for f in data/manifest.json data/train.ltd data/test.ltd "${rows[@]/%//metrics.json}"; do
    if cmp -s "$OUT/old/$f" "$OUT/new/$f"; then echo "same      $f"; else echo "DIFFERENT $f"; diffs=$((diffs + 1)); fi
done
[ $diffs -eq 0 ] && echo "same numbers: every row and the dataset are byte-identical" || { echo "$diffs files differ"; exit 1; }
