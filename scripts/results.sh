#!/usr/bin/env bash
# Regenerates docs/results.md: every method on Fashion-MNIST-LT (imbalance 100, numpy-identical
# LDAM selection), ResNet-32 with a 1-channel stem, the same budget for every row:
# EPOCHS stage-1 epochs (default 30, the reference protocol of ../shared/reference/fmnist-lt.md)
# and, for decoupled methods, 10 stage-2 epochs on top of a shared stage-1 model (CE for
# cRT / LWS / tau-norm as Kang et al.; CE + mixup for MiSLAS as Zhong et al.).
#   EPOCHS=30 bash scripts/results.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
E=${EPOCHS:-30}
bin=target/release
cargo build --release --workspace -q
[ -f data/fmnist-lt/manifest.json ] || $bin/lt-data build --dataset fashion-mnist --imbalance 100 --compat ldam --out data/fmnist-lt -q
R=runs/results-e$E
mkdir -p "$R"
common=(--dataset data/fmnist-lt --epochs "$E" --quiet --eval-every "$E"
        --set stage1.warmup_epochs=5 --set 'stage1.milestones=[0.8, 0.9]')
run() { # name, then lt-train arguments
    local name=$1; shift
    if [ ! -f "$R/$name/metrics.json" ]; then
        rm -rf "$R/$name"
        local t0=$SECONDS
        $bin/lt-train "${common[@]}" --out "$R/$name" "$@" >/dev/null
        echo $((SECONDS - t0)) > "$R/$name/wall_s"
    fi
    echo "$name done"
}
run ce
run ce-mixup --set stage1.mixup_alpha=1.0
s1ce="$R/ce/checkpoints/stage1-final.safetensors"
s1mix="$R/ce-mixup/checkpoints/stage1-final.safetensors"
run crt --plugin decoupling --config configs/decoupling/crt.toml --set "init_checkpoint=\"$s1ce\""
run lws --plugin decoupling --config configs/decoupling/lws.toml --set "init_checkpoint=\"$s1ce\""
run tau-norm --plugin decoupling --config configs/decoupling/tau-norm.toml --set "init_checkpoint=\"$s1ce\""
run ldam-drw --plugin ldam
run balanced-softmax --plugin rebalance --set stage1.loss=balanced-softmax
run logit-adjustment --plugin rebalance --set stage1.loss=logit-adjustment
run mislas --plugin mislas --config configs/mislas/fashion-mnist-lt.toml --epochs "$E" --set "init_checkpoint=\"$s1mix\""

python3 - "$R" "$E" <<'PY'
import json, os, subprocess, sys
R, E = sys.argv[1], sys.argv[2]
rows = [("CE", "ce"), ("CE + mixup", "ce-mixup"), ("cRT", "crt"), ("LWS", "lws"),
        ("tau-norm", "tau-norm"), ("LDAM-DRW", "ldam-drw"), ("Balanced softmax", "balanced-softmax"),
        ("Logit adjustment", "logit-adjustment"), ("MiSLAS", "mislas")]
cpu = subprocess.run(["sh", "-c", "lscpu | grep 'Model name' | sed 's/.*: *//'"], capture_output=True, text=True).stdout.strip()
out = ["# Results: Fashion-MNIST-LT (imbalance 100), ResNet-32", "",
       f"Regenerate with `EPOCHS={E} bash scripts/results.sh` (this table: stage 1 {E} epochs, stage 2 10 epochs",
       f"for decoupled methods). Hardware: {os.cpu_count()} cores ({cpu}), CPU only, torch 2.11.0 (libtorch via tch 0.24).",
       "Accuracies and ECE (15 bins) in percent, NLL in nats; many/medium/few by class index [0,3), [3,7), [7,10).", "",
       "| method | top-1 | many | medium | few | ECE | NLL | wall (s) |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
f = lambda v: "-" if v is None else f"{v:.2f}"
for label, d in rows:
    p = os.path.join(R, d, "metrics.json")
    if not os.path.exists(p):
        out.append(f"| {label} | not run | | | | | | |"); continue
    m = json.load(open(p)); w = open(os.path.join(R, d, "wall_s")).read().strip()
    out.append(f"| {label} | {f(m['top1'])} | {f(m['many'])} | {f(m['medium'])} | {f(m['few'])} | {f(m['ece'])} | {m['nll']:.3f} | {w} |")
open("docs/results.md", "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
