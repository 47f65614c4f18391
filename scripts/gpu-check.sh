#!/usr/bin/env bash
# The device check: one script for a machine with a GPU, which needs only what travels with the
# working tree (prebuilt, stripped binaries, plugins and the CUDA unit-test binary; no Rust
# toolchain) plus that machine's Python with torch 2.11. One line per check; exit 1 if any
# failed. Under 8 minutes on one H100/H200.
#
#   bash scripts/gpu-check.sh --pack DIR    here: build, strip and copy what travels into DIR
#   bash scripts/gpu-check.sh DIR           on the GPU machine: every check, with DIR's binaries
#   bash scripts/gpu-check.sh --cpu [DIR]   the same checks on the CPU with tiny sizes (CI runs
#                                           this with target/release, so the script cannot rot)
#
# Checks: what was found; `lt-train env`; the lt-core unit tests on the device (multi-tensor
# SGD, loss scaler, autocast, channels-last, uint8 batches finished on the device, statistics
# kept on the device); ResNet-32 on a CIFAR-10-LT-sized synthetic dataset (12,406 32x32 images,
# built on the spot) with images/s, the fraction of time the steps waited for data, and CUDA's
# sync-debug mode set to error inside the steps; PyTorch eager on the same GPU, model, batch and
# a torch DataLoader (benches/train_torch.py) and the ratio; fp32, bf16 and fp16 runs reaching
# the same training loss; a checkpoint evaluated, exported and imported on the device; an NCCL
# BBN, RIDE, SADE and KCL (plugin ABI v2) training without host syncs; an NCCL all-reduce across 2
# ranks when 2+ GPUs are present.
# Environment: EPOCHS (default 3 on a GPU, 1 with --cpu), PYTHON (default python3, or .venv's).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

pack() {
    local dir=$1
    source scripts/env.sh
    cargo build --release --workspace -q || exit 1
    local unit
    unit=$(cargo test --release -p lt-core --lib --no-run --message-format=json -q 2>/dev/null |
        .venv/bin/python -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["lib"]:
        print(m["executable"])') || exit 1
    rm -rf "$dir" && mkdir -p "$dir/bin/plugins" "$dir/tests" || exit 1
    strip -o "$dir/bin/lt-train" target/release/lt-train
    strip -o "$dir/bin/lt-data" target/release/lt-data
    for so in target/release/liblt_plugin_*.so; do
        strip -o "$dir/bin/plugins/$(basename "$so")" "$so"
    done
    strip -o "$dir/tests/lt_core_unit" "$unit"
    git rev-parse HEAD >"$dir/REVISION" 2>/dev/null
    echo "packed $(du -sh "$dir" | cut -f1) into $dir (limit 64 MiB): $(ls "$dir/bin" "$dir/bin/plugins" "$dir/tests" | grep -c .) files"
}

if [ "${1:-}" = "--pack" ]; then
    pack "${2:?usage: gpu-check.sh --pack DIR}"
    exit
fi
mode=gpu
if [ "${1:-}" = "--cpu" ]; then
    mode=cpu
    shift
fi
dir=${1:-}
if [ -n "$dir" ]; then
    bin=$(realpath "$dir/bin")
    unit=$(realpath "$dir/tests/lt_core_unit")
else
    bin=$root/target/release
    # The newest lt-core unit-test executable cargo built.
    unit=$(ls -t "$root"/target/release/deps/lt_core-* 2>/dev/null | grep -v '\.d$' | head -n 1)
fi
if [ -z "${PYTHON:-}" ]; then
    PYTHON=python3
    [ -x .venv/bin/python ] && [ "$mode" = cpu ] && PYTHON=.venv/bin/python
fi
torch_lib=$("$PYTHON" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))') || {
    echo "gpu-check: $PYTHON has no torch" >&2
    exit 1
}
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LT_PLUGIN_PATH="$bin/plugins"
work=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
failed=0
start=$(date +%s)
line() { echo "$*"; }
fail() {
    echo "$* FAIL"
    failed=$((failed + 1))
}

# tol: the largest relative difference of a mixed-precision run's final training loss from
# float32's (one CPU epoch on 200 images is noise, so that mode only checks that it trains).
if [ "$mode" = gpu ]; then
    epochs=${EPOCHS:-3} device=cuda per_class=1000 test_per_class=1000 imbalance=100 batch=128
    threads=0 workers=$(nproc) tol=0.10 sync="no host sync inside a step (sync-debug error)"
else
    epochs=${EPOCHS:-1} device=cpu per_class=12 test_per_class=10 imbalance=10 batch=16
    threads=2 workers=1 tol=1.0 sync="CPU run"
fi
gpus=$("$PYTHON" -c 'import torch; print(torch.cuda.device_count())')
names=$("$PYTHON" -c 'import torch; print(", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())) or "none")')
line "gpu-check ($mode): found lt-train $(du -h "$bin/lt-train" 2>/dev/null | cut -f1), lt-data $(du -h "$bin/lt-data" 2>/dev/null | cut -f1)," \
    "$(ls "$bin"/plugins/liblt_plugin_*.so "$bin"/liblt_plugin_*.so 2>/dev/null | wc -l) plugins, unit tests ${unit:-missing}" \
    "(revision $(cat "${dir:-.}/REVISION" 2>/dev/null || git rev-parse --short HEAD 2>/dev/null));" \
    "$("$PYTHON" -c 'import torch; print("torch", torch.__version__)'); GPUs: $gpus ($names)"
[ -x "$bin/lt-train" ] && [ -x "$bin/lt-data" ] || {
    fail "binaries: $bin/lt-train or $bin/lt-data missing (bash scripts/gpu-check.sh --pack DIR first)"
    exit 1
}
if [ "$mode" = gpu ] && [ "$gpus" -lt 1 ]; then
    fail "no CUDA device visible to torch"
    exit 1
fi

# 1. What the binary has and sees.
env_out=$("$bin/lt-train" env 2>&1)
nccl=$(grep '^nccl compiled:' <<<"$env_out" | cut -d' ' -f3)
avail=$(grep '^cuda available:' <<<"$env_out" | cut -d' ' -f3)
msg="env: cuda available $avail, nccl compiled $nccl, $(grep '^cudnn version:' <<<"$env_out")"
if [ "$nccl" = yes ] && { [ "$mode" = cpu ] || [ "$avail" = yes ]; }; then line "$msg ok"; else fail "$msg"; fi

# 2. The unit tests, on the GPU when there is one.
if [ -n "$unit" ] && [ -x "$unit" ]; then
    [ "$mode" = gpu ] && export LT_TEST_DEVICE=cuda
    out=$(cd "$work" && timeout 300 "$unit" --test-threads 1 2>&1)
    rc=$?
    summary=$(grep -E '^test result' <<<"$out" | tail -n 1)
    if [ $rc -eq 0 ]; then line "unit tests on $device: $summary ok"; else
        fail "unit tests on $device: $summary $(grep -E 'FAILED|panicked' <<<"$out" | head -n 3 | tr '\n' ' ')"
    fi
    unset LT_TEST_DEVICE
else
    fail "unit tests: binary missing"
fi

# 3. The dataset.
t0=$(date +%s%N)
"$PYTHON" scripts/gpu_check_data.py "$work/src" --per-class "$per_class" --test-per-class "$test_per_class" &&
    "$bin/lt-data" build --dataset cifar10 --src "$work/src" --imbalance "$imbalance" --out "$work/data" -q
rc=$?
ds_secs=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
n_train=$("$PYTHON" -c "import json; m=json.load(open('$work/data/manifest.json')); print(m['splits']['train']['total'], m['splits']['test']['total'])" 2>/dev/null)
if [ $rc -eq 0 ]; then line "dataset: synthetic CIFAR-10-LT (IF $imbalance), train/test images $n_train, built in ${ds_secs}s ok"; else
    fail "dataset: build failed"
    exit 1
fi

# lt-train on the dataset: prints "images/s loss data-wait" of the epochs after the first.
train() {
    local name=$1
    shift
    local out="$work/run-$name"
    if ! timeout 600 "$bin/lt-train" --dataset "$work/data" --out "$out" --epochs "$epochs" --stage2-epochs 0 \
        --device "$device" --quiet --set model=\"resnet32\" --set stage1.batch_size="$batch" \
        --set stage1.warmup_epochs=1 --set threads="$threads" "$@" >"$work/$name.log" 2>&1; then
        tail -n 2 "$work/$name.log" | tr '\n' ' '
        return 1
    fi
    "$PYTHON" - "$out/metrics.jsonl" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
rest = lines[1:] or lines
ips = sum(l["images_per_sec"] for l in rest) / len(rest)
wait = sum(l["data_wait_fraction"] for l in rest) / len(rest)
print(f"{ips:.0f} {lines[-1]['train_loss']:.4f} {100 * wait:.1f}")
EOF
}

# 4. Throughput, data wait, and no host synchronisation inside the steps.
if r=$(LT_CUDA_SYNC_DEBUG=error train fp32); then
    read -r ips32 loss32 wait32 <<<"$r"
    line "train fp32: ResNet-32 batch $batch, $epochs epochs on $device: $ips32 images/s, steps waited for data ${wait32}% of the time, loss $loss32, $sync ok"
else
    fail "train fp32: $r"
fi

# 5. PyTorch eager on the same device, model and batch, with a torch DataLoader.
if tr=$(timeout 600 "$PYTHON" benches/train_torch.py "$work/data" --epochs "$epochs" --batch "$batch" --device "$device" \
    --workers "$workers" --threads "$threads" 2>&1); then
    ipst=$(grep '^images/s' <<<"$tr" | cut -d' ' -f2)
    losst=$(grep '^train_loss' <<<"$tr" | cut -d' ' -f2)
    ratio=$(awk -v a="${ips32:-0}" -v b="$ipst" 'BEGIN { printf "%.2f", a / b }')
    line "pytorch eager: $ipst images/s (DataLoader, $workers workers), loss $losst; lt-train / pytorch ${ratio}x ok"
else
    fail "pytorch eager: $(tail -n 2 <<<"$tr" | tr '\n' ' ')"
fi

# 6. Mixed precision reaches float32's training loss.
for amp in bf16 fp16; do
    if r=$(train "$amp" --set amp=\""$amp"\"); then
        read -r ips loss _ <<<"$r"
        rel=$(awk -v a="$loss" -v b="${loss32:-0}" 'BEGIN { x = (a - b) / b; if (x < 0) x = -x; printf "%.3f", x }')
        msg="train $amp: $ips images/s, loss $loss (fp32 ${loss32:-?}, relative difference $rel)"
        if awk -v x="$rel" -v t="$tol" 'BEGIN { exit !(x <= t) }'; then line "$msg ok"; else fail "$msg"; fi
    else
        fail "train $amp: $r"
    fi
done

# 7. Models in and out on the device: `lt-train eval` of the fp32 run's final checkpoint gives its
# top-1; its lt-train-named export starts a run there (--init-backbone, weights copied onto the
# device); its TorchScript export runs in torch on the device.
ck="$work/run-fp32/checkpoints/stage1-final.safetensors"
if [ -f "$ck" ]; then
    ran=$("$PYTHON" -c "import json; print('%.2f' % json.load(open('$work/run-fp32/metrics.json'))['top1'])")
    got=$("$bin/lt-train" eval --checkpoint "$ck" --device "$device" 2>"$work/eval.log" | awk 'NR == 1 { print $2 }')
    msg="eval on $device: top1 ${got:-?} (the run's ${ran})"
    if awk -v a="${got:-x}" -v b="$ran" 'BEGIN { d = a - b; exit !(a == a + 0 && d <= 0.05 && d >= -0.05) }'; then line "$msg ok"; else fail "$msg $(tail -n 1 "$work/eval.log")"; fi
    if "$bin/lt-train" export "$work/run-fp32" --format safetensors --out "$work/fp32.safetensors" --force >/dev/null 2>"$work/export.log" &&
        "$bin/lt-train" export "$work/run-fp32" --format torchscript --out "$work/fp32.pt" --force >/dev/null 2>>"$work/export.log"; then
        if r=$(train init --init-backbone "$work/fp32.safetensors" --set stage1.epochs=1); then
            line "init_backbone on $device: a run from the export trained, loss $(cut -d' ' -f2 <<<"$r") ok"
        else
            fail "init_backbone on $device: $r"
        fi
        if ts=$("$PYTHON" -c "import torch; d = '$device'; m = torch.jit.load('$work/fp32.pt', map_location=d); y = m(torch.randn(2, 3, 32, 32, device=d)); print(tuple(y.shape), y.device)" 2>&1); then
            line "torchscript export in torch: logits $ts ok"
        else
            fail "torchscript export in torch: $(tail -n 1 <<<"$ts")"
        fi
    else
        fail "export: $(tail -n 1 "$work/export.log")"
    fi
else
    fail "eval on $device: no fp32 checkpoint ($ck)"
fi

# 8. The multi-branch and feature-loss methods (plugin ABI v2) on the device, without a host
# synchronisation inside their steps: BBN (two samplers), RIDE, SADE (test-time adaptation at
# the end), KCL (two views, the loss's own projection head), then RIDE's router.
for m in bbn ride sade kcl; do
    if r=$(LT_CUDA_SYNC_DEBUG=error train "$m" --plugin "$m" --config "configs/$m.toml" --set stage1.warmup_epochs=1); then
        read -r ips loss _ <<<"$r"
        line "train $m: $ips images/s, loss $loss, $sync ok"
    else
        fail "train $m: $r"
    fi
done
# RIDE's router: a stage 2 on the frozen experts of the RIDE run above (labels into the model,
# the model's own loss, routed evaluation reporting experts per image).
ride_ck="$work/run-ride/checkpoints/stage1-final.safetensors"
if [ -f "$ride_ck" ] && LT_CUDA_SYNC_DEBUG=error timeout 600 "$bin/lt-train" --dataset "$work/data" \
    --out "$work/run-ride-router" --device "$device" --quiet --set model=\"resnet32\" \
    --set threads="$threads" --plugin ride --config configs/ride-router.toml \
    --set model_plugin_config.top_choices=3 --set stage2.epochs=1 --set stage2.batch_size="$batch" \
    --set "init_checkpoint=\"$ride_ck\"" >"$work/ride-router.log" 2>&1; then
    used=$("$PYTHON" -c 'import json, sys; print(round(json.load(open(sys.argv[1]))["branches_per_image"], 3))' \
        "$work/run-ride-router/metrics.json")
    line "train ride-router: stage 2 on the frozen experts, $used experts per image, $sync ok"
else
    fail "train ride-router: $(tail -n 2 "$work/ride-router.log" | tr '\n' ' ')"
fi

# 9. NCCL across two ranks.
if [ "$mode" = gpu ] && [ "$gpus" -ge 2 ]; then
    if timeout 300 "$PYTHON" -m torch.distributed.run --nproc-per-node 2 --no-python "$bin/lt-train" \
        --dataset "$work/data" --out "$work/run-ddp" --epochs 1 --stage2-epochs 0 --quiet \
        --set model=\"resnet32\" --set stage1.warmup_epochs=0 >"$work/ddp.log" 2>&1; then
        line "nccl: 2 ranks trained an epoch with gradient all-reduce ok"
    else
        fail "nccl: $(tail -n 2 "$work/ddp.log" | tr '\n' ' ')"
    fi
else
    line "nccl: skipped ($gpus GPU(s) visible; 2 needed)"
fi

line "gpu-check: $failed failed, took $(($(date +%s) - start)) s"
[ "$failed" -eq 0 ]
