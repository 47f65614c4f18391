#!/usr/bin/env bash
# The seeds table of docs/results.md: mean ± sample std over SEEDS (default 0,1,2) of CE, CE +
# mixup, MiSLAS and the two best rows of the one-seed table (post-hoc logit adjustment, SADE), on
# the protocol of scripts/results.sh (Fashion-MNIST-LT IF 100, ResNet-32, EPOCHS stage-1 epochs,
# default 30; MiSLAS and logit adjustment start each seed from the stage 1 of the same seed), and
# their relative accuracy (Zhang et al.'s survey): 100 A_t / A_u with A_u = max(A_v, A_b), A_v
# vanilla CE and A_b the same method, both trained on the balanced profile of the same total
# (`lt-data build --profile balanced`: 1,488 a class), seeds BAL_SEEDS (default 0).
#
# Every row is an `lt-train --seeds` directory under runs/seeds-eE: re-running skips finished
# seeds and continues an interrupted one from its last epoch, so the script can be stopped and
# started again at any time. Two lanes side by side with one libtorch thread each; about 13
# CPU-hours in all at 30 epochs (6.5 h on 2 cores). ONLY="ce mislas" runs only those rows; the
# table is rewritten from the rows whose seeds have all finished.
#   EPOCHS=30 bash scripts/results-seeds.sh
#   BIN=/tmp/seedbin ...   binaries and plugins copied there, so a rebuild cannot touch a run
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/lib/lanes.sh
E=${EPOCHS:-30}
SEEDS=${SEEDS:-0,1,2}
BAL=${BAL_SEEDS:-0}
if [ -z "${BIN:-}" ]; then
    cargo build --release --workspace -q
    bin=target/release
else
    bin=$BIN
    export LT_PLUGIN_PATH=$BIN
fi
lt=data/fmnist-lt
bal=data/fmnist-bal
[ -f $lt/manifest.json ] || $bin/lt-data build --dataset fashion-mnist --imbalance 100 --compat ldam --out $lt -q
[ -f $bal/manifest.json ] || $bin/lt-data build --dataset fashion-mnist --imbalance 100 --compat ldam --profile balanced --out $bal -q
R=runs/seeds-e$E
mkdir -p "$R"
common=(--epochs "$E" --quiet --eval-every "$E" --set threads=1 --set loader_threads=1
        --set stage1.warmup_epochs=5 --set 'stage1.milestones=[0.8, 0.9]')
selected() { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]; }
sweep() { # name, data, seeds, then lt-train arguments
    local name=$1 data=$2 seeds=$3; shift 3
    selected "$name" || return 0
    [ -f "$R/$name/summary.json" ] ||
        $bin/lt-train "${common[@]}" --dataset "$data" --seeds "$seeds" --out "$R/$name" "$@" > "$R/$name.log" 2>&1
    echo "$name done"
}
from() { echo "init_checkpoint=\"$R/$1/seed-{seed}/checkpoints/stage1-final.safetensors\""; }
mixup=(--set stage1.mixup_alpha=1.0)
mislas=(--plugin mislas --config configs/mislas/fashion-mnist-lt.toml)
sade=(--plugin sade --config configs/sade.toml)
lane_a() {
    sweep ce $lt "$SEEDS"
    sweep logit-adjustment $lt "$SEEDS" --plugin rebalance --config configs/logit-adjustment-posthoc.toml --set "$(from ce)"
    sweep sade $lt "$SEEDS" "${sade[@]}"
}
lane_b() {
    sweep ce-mixup $lt "$SEEDS" "${mixup[@]}"
    sweep mislas $lt "$SEEDS" "${mislas[@]}" --set "$(from ce-mixup)"
    sweep bal-ce $bal "$BAL"
    sweep bal-ce-mixup $bal "$BAL" "${mixup[@]}"
    sweep bal-mislas $bal "$BAL" "${mislas[@]}" --set "$(from bal-ce-mixup)"
    sweep bal-sade $bal "$BAL" "${sade[@]}"
}
run_lanes "$R"
python3 scripts/results_seeds.py "$R" "$E"
