#!/usr/bin/env bash
# The seeds table of docs/results.md: mean ± sample std over SEEDS (default 0,1,2) of CE, CE +
# mixup, MiSLAS and the two best rows of the one-seed table (post-hoc logit adjustment, SADE), on
# the protocol of scripts/results.sh (Fashion-MNIST-LT IF 100, ResNet-32, EPOCHS stage-1 epochs,
# default 30; MiSLAS and logit adjustment start each seed from the stage 1 of the same seed), and
# their relative accuracy (Zhang et al.'s survey): 100 A_t / A_u with A_u = max(A_v, A_b), A_v
# vanilla CE and A_b the same method, both trained on the balanced profile of the same total
# (`lt-data build --profile balanced`: 1,488 a class), seeds BAL_SEEDS (default 0).
#
# Every finished seed is copied into docs/results/seeds-eE (committed: the table is written from
# there, so it outlives the machine that ran it), and a row runs only the seeds it still lacks;
# an interrupted `lt-train --seeds` directory under runs/seeds-eE continues from its last epoch.
# So the script can be stopped and started again at any time, on this machine or a fresh one.
# Two lanes side by side with one libtorch thread each; about 13 CPU-hours in all at 30 epochs
# (6.5 h on 2 cores). ONLY="ce mislas" runs only those rows.
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
A=docs/results/seeds-e$E
selected() { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]; }
pending() { python3 scripts/results_seeds.py pending "$A" "$1" "$2"; }
train() { # name, data, seeds, then lt-train arguments: runs them, then archives what finished
    local name=$1 data=$2 seeds=$3; shift 3
    $bin/lt-train "${common[@]}" --dataset "$data" --seeds "$seeds" --out "$R/$name" "$@" > "$R/$name.log" 2>&1
    python3 scripts/results_seeds.py collect "$R" "$A"
}
sweep() { # name, data, seeds, then lt-train arguments: the seeds the archive lacks
    local name=$1 data=$2 todo; todo=$(pending "$1" "$3"); shift 3
    selected "$name" && [ -n "$todo" ] || return 0
    train "$name" "$data" "$todo" "$@"
    echo "$name done"
}
stage1() { # name, data, seeds of a row started from this one's checkpoints, then arguments
    local name=$1 data=$2 todo=() s; shift 2
    for s in ${1//,/ }; do
        [ -f "$R/$name/seed-$s/checkpoints/stage1-final.safetensors" ] || todo+=("$s")
    done
    shift
    [ ${#todo[@]} -eq 0 ] || train "$name" "$data" "$(IFS=,; echo "${todo[*]}")" "$@"
}
from() { echo "init_checkpoint=\"$R/$1/seed-{seed}/checkpoints/stage1-final.safetensors\""; }
mixup=(--set stage1.mixup_alpha=1.0)
mislas=(--plugin mislas --config configs/mislas/fashion-mnist-lt.toml)
sade=(--plugin sade --config configs/sade.toml)
lane_a() {
    sweep ce $lt "$SEEDS"
    selected logit-adjustment && stage1 ce $lt "$(pending logit-adjustment "$SEEDS")"
    sweep logit-adjustment $lt "$SEEDS" --plugin rebalance --config configs/logit-adjustment-posthoc.toml --set "$(from ce)"
    sweep sade $lt "$SEEDS" "${sade[@]}"
}
lane_b() {
    sweep ce-mixup $lt "$SEEDS" "${mixup[@]}"
    selected mislas && stage1 ce-mixup $lt "$(pending mislas "$SEEDS")" "${mixup[@]}"
    sweep mislas $lt "$SEEDS" "${mislas[@]}" --set "$(from ce-mixup)"
    sweep bal-ce $bal "$BAL"
    sweep bal-ce-mixup $bal "$BAL" "${mixup[@]}"
    selected bal-mislas && stage1 bal-ce-mixup $bal "$(pending bal-mislas "$BAL")" "${mixup[@]}"
    sweep bal-mislas $bal "$BAL" "${mislas[@]}" --set "$(from bal-ce-mixup)"
    sweep bal-sade $bal "$BAL" "${sade[@]}"
}
run_lanes "$R"
python3 scripts/results_seeds.py collect "$R" "$A"
python3 scripts/results_seeds.py table "$A" "$E"
