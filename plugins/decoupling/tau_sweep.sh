#!/usr/bin/env bash
# tau sweep for the tau-normalised classifier (Kang et al., ICLR 2020), reusing ONE stage-1 run.
#
#   plugins/decoupling/tau_sweep.sh DATASET_DIR RUN_DIR [extra lt-train args...]
#
# 1. If RUN_DIR has no stage-1 checkpoint yet, trains stage 1 there (stage 2 off).
# 2. For each tau in $TAUS (default 0 0.25 0.5 0.75 1 1.25 1.5), copies the stage-1 checkpoints
#    into RUN_DIR/tau-<tau>, resumes there (stage 1 is complete, so only the epoch-0 tau-norm
#    stage 2 runs: it only evaluates) and prints "tau <tau> top1 <x> many .. medium .. few ..".
#
# Honesty note: lt-train evaluates on the dataset's *test* split; it has no option yet to
# evaluate on a validation split. Picking tau by these numbers and reporting them tunes on the
# test set. Until the trainer can evaluate a `val` split, use the sweep to see the trend (and
# report tau = 1, the paper's default), or point DATASET_DIR at a copy whose test split is a
# held-out validation split.
set -euo pipefail
data=${1:?usage: tau_sweep.sh DATASET_DIR RUN_DIR [lt-train args...]}
run=${2:?usage: tau_sweep.sh DATASET_DIR RUN_DIR [lt-train args...]}
shift 2
bin=${LT_TRAIN:-$(dirname "$0")/../../target/release/lt-train}
cfg=$(dirname "$0")/../../configs/decoupling/tau-norm.toml
if [[ ! -f "$run/checkpoints/stage1-final.safetensors" ]]; then
    "$bin" --dataset "$data" --out "$run" --stage2-epochs 0 --quiet "$@"
fi
for tau in ${TAUS:-0 0.25 0.5 0.75 1 1.25 1.5}; do
    out="$run/tau-$tau"
    mkdir -p "$out/checkpoints"
    cp "$run/checkpoints/stage1-final.safetensors" "$run/checkpoints/stage1-last.safetensors" "$out/checkpoints/"
    "$bin" --plugin decoupling --config "$cfg" --dataset "$data" --out "$out" --resume --quiet \
        --set "stage2.head_config.tau=$tau" "$@"
    python3 -c 'import json,sys; m=json.load(open(sys.argv[2]))
print("tau %s top1 %.2f many %s medium %s few %s ece %.2f" % (sys.argv[1], m["top1"], m["many"], m["medium"], m["few"], m["ece"]))' "$tau" "$out/metrics.json"
done
