#!/usr/bin/env bash
# Regenerates docs/results.md: every method on Fashion-MNIST-LT (imbalance 100, numpy-identical
# LDAM selection), ResNet-32 with a 1-channel stem, the same budget for every row:
# EPOCHS stage-1 epochs (default 30, the reference protocol of ../shared/reference/fmnist-lt.md)
# and, for decoupled methods, a stage 2 on top of a shared stage-1 model: CE for cRT (10 epochs),
# LWS (5), tau-norm and post-hoc logit adjustment (no training), as Kang et al. and Menon et al.;
# CE + mixup for MiSLAS (10 epochs), as Zhong et al.; KCL's cRT (10 epochs) on its own stage 1.
# The multi-expert and feature-loss rows (BBN, RIDE, SADE, LADE, KCL) use ABI-v2 plugins; RIDE's
# router is a 5-epoch stage 2 on the RIDE experts (top_choices 3 of 10 classes, as 30 of 100).
# About 7 h on 2 cores. ONLY="bbn sade" runs only those rows; a row whose run directory has no
# metrics keeps its line of the previous table. A row run with `--seeds 0,1,2` (lt-train's
# seeds sweep) shows mean ± sample std over its seeds, their count after the top-1.
#   EPOCHS=30 bash scripts/results.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/lib/lanes.sh
E=${EPOCHS:-30}
bin=target/release
cargo build --release --workspace -q
[ -f data/fmnist-lt/manifest.json ] || $bin/lt-data build --dataset fashion-mnist --imbalance 100 --compat ldam --out data/fmnist-lt -q
R=runs/results-e$E
mkdir -p "$R"
T=${LANE_THREADS:-$(( $(nproc) / 2 > 0 ? $(nproc) / 2 : 1 ))}
common=(--dataset data/fmnist-lt --epochs "$E" --quiet --eval-every "$E" --set threads=$T --set loader_threads=1
        --set stage1.warmup_epochs=5 --set 'stage1.milestones=[0.8, 0.9]')
selected() { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]; }
run() { # name, then lt-train arguments
    local name=$1; shift
    selected "$name" || return 0
    if [[ " $* " == *" --seeds"* ]]; then
        # A --seeds row: RUN holds seed-S run directories and summary.json (and nothing else, so
        # no wall_s); lt-train skips the finished seeds and resumes an interrupted one.
        [ -f "$R/$name/summary.json" ] || $bin/lt-train "${common[@]}" --out "$R/$name" "$@" >/dev/null
        echo "$name done"
        return 0
    fi
    if [ ! -f "$R/$name/metrics.json" ]; then
        # An interrupted row continues from its last epoch; its wall time is the run's own
        # elapsed time, which a resumed run carries on (this call's time when it trained none).
        local t0=$SECONDS
        $bin/lt-train "${common[@]}" --out "$R/$name" --resume "$@" >/dev/null
        python3 - "$R/$name/metrics.jsonl" $((SECONDS - t0)) > "$R/$name/wall_s" <<'PY'
import json, os, sys
path, fallback = sys.argv[1], sys.argv[2]
lines = [json.loads(l) for l in open(path) if l.strip()] if os.path.exists(path) else []
print(round(lines[-1]["elapsed_s"]) if lines else fallback)
PY
    fi
    echo "$name done"
}
s1ce="$R/ce/checkpoints/stage1-final.safetensors"
s1mix="$R/ce-mixup/checkpoints/stage1-final.safetensors"
# Two lanes run side by side with LANE_THREADS libtorch threads each (default: cores / 2): lane A
# trains CE then LDAM-DRW, lane B CE + mixup then balanced softmax, then every row that starts
# from a shared stage-1 model (MiSLAS from CE + mixup; cRT, LWS, tau-norm and post-hoc logit
# adjustment from CE).
lane_a() {
    run ce
    run ldam-drw --plugin ldam
    run ride --plugin ride --config configs/ride.toml
    run ride-router --plugin ride --config configs/ride-router.toml --set model_plugin_config.top_choices=3 --set "init_checkpoint=\"$R/ride/checkpoints/stage1-final.safetensors\""
    run lade --plugin lade --config configs/lade.toml
    run kcl --plugin kcl --config configs/kcl.toml
    run kcl-crt --plugin decoupling --config configs/kcl-crt.toml --set "init_checkpoint=\"$R/kcl/checkpoints/stage1-final.safetensors\""
}
lane_b() {
    run ce-mixup --set stage1.mixup_alpha=1.0
    run balanced-softmax --plugin rebalance --set stage1.loss=balanced-softmax
    run mislas --plugin mislas --config configs/mislas/fashion-mnist-lt.toml --set "init_checkpoint=\"$s1mix\""
    run sade --plugin sade --config configs/sade.toml
    run bbn --plugin bbn --config configs/bbn.toml
    while selected crt && [ ! -f "$R/ce/metrics.json" ]; do sleep 10; done
    run crt --plugin decoupling --config configs/decoupling/crt.toml --set "init_checkpoint=\"$s1ce\""
    run lws --plugin decoupling --config configs/decoupling/lws.toml --set "init_checkpoint=\"$s1ce\""
    run tau-norm --plugin decoupling --config configs/decoupling/tau-norm.toml --set "init_checkpoint=\"$s1ce\""
    run logit-adjustment --plugin rebalance --config configs/logit-adjustment-posthoc.toml --set "init_checkpoint=\"$s1ce\""
}
run_lanes "$R"

python3 - "$R" "$E" "$T" <<'PY'
import json, os, re, statistics, subprocess, sys
R, E, T = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [("CE", "ce"), ("CE + mixup", "ce-mixup"), ("cRT", "crt"), ("LWS", "lws"),
        ("tau-norm (tau 1)", "tau-norm"), ("LDAM-DRW", "ldam-drw"), ("Balanced softmax", "balanced-softmax"),
        ("Logit adjustment (post-hoc)", "logit-adjustment"), ("MiSLAS", "mislas"),
        ("LADE", "lade"), ("BBN", "bbn"), ("RIDE (3 experts)", "ride"), ("RIDE + router", "ride-router"),
        ("SADE (test-time aggregation)", "sade"), ("KCL + cRT", "kcl-crt")]
cpu = subprocess.run(["sh", "-c", "lscpu | grep 'Model name' | sed 's/.*: *//'"], capture_output=True, text=True).stdout.strip()
table = [f"Command: `EPOCHS={E} bash scripts/results.sh` (stage 1: {E} epochs; decoupled rows add a stage 2",
         f"on the shared stage-1 model). Hardware: {os.cpu_count()} cores ({cpu}), CPU only, torch 2.11.0",
         f"(libtorch through tch 0.24); two runs side by side with {T} libtorch thread(s) each, so wall",
         "times (each row's own run: decoupled rows exclude their shared stage 1) are not a speed",
         "benchmark. Accuracy, ECE (15 bins) and mean confidence (conf.) in percent,",
         "NLL in nats; conf. above top-1 is over-confidence, below it under-confidence.", "",
         "| method | top-1 | many | medium | few | ECE | NLL | conf. | wall (s) |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
f = lambda v: "-" if v is None else f"{v:.2f}"
doc = "docs/results.md"
text = open(doc).read() if os.path.exists(doc) else "# Results: Fashion-MNIST-LT (imbalance 100), ResNet-32\n\n<!-- table --><!-- /table -->\n"
# A row whose run directory has no metrics (ONLY= ran other rows) keeps its previous line.
previous = {l.split("|")[1].strip(): l for l in text.splitlines() if l.startswith("| ") and l.count("|") == 10}
confidence = lambda m: 100 * sum(b["count"] * b["confidence"] for b in m["bins"]) / max(1, sum(b["count"] for b in m["bins"]))
def pm(values, digits=2):
    # mean ± sample standard deviation (n - 1), as lt-train's summary.json
    if not values: return "-"
    if len(values) == 1: return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"
def seeds_row(label, run):
    # A --seeds directory: mean ± std of each metric from its summary.json, the seed count in the
    # top-1 cell; conf. and wall (mean a seed) from the seeds' own files.
    s = json.load(open(os.path.join(run, "summary.json")))
    S = s["metrics"]
    col = lambda k, digits=2: "-" if k not in S else (f"{S[k]['mean']:.{digits}f}"
        + ("" if S[k]["std"] is None else f" ± {S[k]['std']:.{digits}f}"))
    ms = [json.load(open(os.path.join(run, r, "metrics.json"))) for r in s["runs"]]
    walls = []
    for r in s["runs"]:
        lines = [json.loads(l) for l in open(os.path.join(run, r, "metrics.jsonl")) if l.strip()]
        walls.append(lines[-1]["elapsed_s"] if lines else 0)
    return (f"| {label} | {col('top1')} ({len(s['seeds'])} seeds) | {col('many')} | {col('medium')} | {col('few')} "
            f"| {col('ece')} | {col('nll', 3)} | {pm([confidence(m) for m in ms])} | {statistics.mean(walls):.0f} a seed |")
seeded = False
for label, d in rows:
    p = os.path.join(R, d, "metrics.json")
    if os.path.exists(os.path.join(R, d, "summary.json")):
        table.append(seeds_row(label, os.path.join(R, d))); seeded = True; continue
    if not os.path.exists(p):
        table.append(previous.get(label, f"| {label} | not run | | | | | | | |")); continue
    m = json.load(open(p)); w = open(os.path.join(R, d, "wall_s")).read().strip()
    conf = confidence(m)
    table.append(f"| {label} | {f(m['top1'])} | {f(m['many'])} | {f(m['medium'])} | {f(m['few'])} | {f(m['ece'])} | {m['nll']:.3f} | {conf:.2f} | {w} |")
if seeded:
    table.insert(6, "Rows of several seeds (lt-train --seeds): mean ± sample standard deviation (n - 1) over the seeds; wall: mean a seed.")
block = "<!-- table: written by scripts/results.sh -->\n" + "\n".join(table) + "\n<!-- /table -->"
# The analysis around the table is written by hand and kept; only the table is replaced.
text = re.sub(r"<!-- table.*?<!-- /table -->", lambda _: block, text, count=1, flags=re.S)
open(doc + ".tmp", "w").write(text)
os.replace(doc + ".tmp", doc)
print("\n".join(table))
PY
