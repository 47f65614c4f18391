#!/usr/bin/env bash
# tau sweep for the tau-normalised classifier (Kang et al., ICLR 2020) on ONE stage-1 model.
#
#   plugins/decoupling/tau_sweep.sh DATASET_DIR STAGE1_CHECKPOINT OUT_DIR [extra lt-train args...]
#
# STAGE1_CHECKPOINT is a finished stage 1, e.g. RUN/checkpoints/stage1-final.safetensors of a
# plain `lt-train --dataset DIR --out RUN --stage2-epochs 0` run. For each tau in $TAUS (default
# 0 0.25 ... 2, the official tau_norm.py grid step doubled) the script runs the epoch-0 tau-norm
# stage 2 from that checkpoint (`init_checkpoint`, so stage 1 is not retrained) and prints
# "tau T top1 .. many .. medium .. few .. ece ..".
#
# The split evaluated is $EVAL_SPLIT, default "val": the dataset needs a validation split
# (ImageNet-LT, Places-LT and iNaturalist built with their official val lists have one). Pick tau
# there, then evaluate that one tau on the test split. EVAL_SPLIT=test works on datasets without
# a val split, but choosing tau by those numbers tunes on the test set: report tau = 1 (the
# paper's default) instead, or say so.
set -euo pipefail
data=${1:?usage: tau_sweep.sh DATASET_DIR STAGE1_CHECKPOINT OUT_DIR [lt-train args...]}
ckpt=${2:?usage: tau_sweep.sh DATASET_DIR STAGE1_CHECKPOINT OUT_DIR [lt-train args...]}
out=${3:?usage: tau_sweep.sh DATASET_DIR STAGE1_CHECKPOINT OUT_DIR [lt-train args...]}
shift 3
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${LT_TRAIN:-$root/target/release/lt-train}
split=${EVAL_SPLIT:-val}
for tau in ${TAUS:-0 0.25 0.5 0.75 1 1.25 1.5 1.75 2}; do
    run="$out/tau-$tau"
    "$bin" --plugin decoupling --config "$root/configs/decoupling/tau-norm.toml" --dataset "$data" \
        --out "$run" --quiet --set "init_checkpoint=\"$ckpt\"" --set "eval_split=\"$split\"" \
        --set "stage2.head_config.tau=$tau" "$@" >/dev/null
    python3 -c 'import json,sys; m=json.load(open(sys.argv[3]))
f=lambda v: "-" if v is None else "%.2f" % v
print("tau %s (%s) top1 %s many %s medium %s few %s ece %s" % (sys.argv[1], sys.argv[2], f(m["top1"]), f(m["many"]), f(m["medium"]), f(m["few"]), f(m["ece"])))' \
        "$tau" "$split" "$run/metrics.json"
done
