#!/usr/bin/env bash
# Times `lt-data build --dataset imagenet-lt` on a simulated ImageNet-LT in the ILSVRC2012 layout.
#
#   bash scripts/sim-imagenet-lt.sh                 # the full size: run it on a quiet machine
#   N_TOTAL=2000 bash scripts/sim-imagenet-lt.sh    # a quick check of the script itself
#
# 1. scripts/sim_imagenet_lt.py writes SIM_DIR/ILSVRC2012/train/<wnid>/*.JPEG: N_TOTAL (default
#    115,846) smooth random JPEGs of SIZE (default 500x375, quality 90) in the 1,000 class folders
#    of the real ImageNet_LT_val.txt's WordNet ids. The official training list is not available
#    here, so the class sizes are a power law fitted to its three published numbers (1,000
#    classes, 1,280 to 5 images, 115,846 in all; see the generator's docstring); N_TOTAL below
#    that scales every class down, at least one image a class. Also TEST_PER_CLASS (default 1)
#    test images a class, flat in val/ as ILSVRC2012_img_val.tar extracts, named by the real
#    ImageNet_LT_test.txt, and both lists in SIM_DIR/lists. Images already there are kept, so a
#    second run only builds. Full size: about 2.5 GB of JPEGs and 1.3 GB of dataset; the
#    generation takes a few CPU minutes too (JOBS processes, default all cores).
# 2. lt-data build (release) under /usr/bin/time -v into SIM_DIR/inet-lt, then prints the wall
#    time, images/s (training and test images decoded per second), the output size and the peak
#    memory (maximum resident set size).
#
# Environment: N_TOTAL, SIZE, TEST_PER_CLASS, JOBS, SIM_DIR (default target/sim-imagenet-lt,
# or target/sim-imagenet-lt-N when N_TOTAL is set), SPLITS (default ../shared/splits),
# BUILD_ARGS (more `lt-data build` flags, e.g. "--max-side 224").
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

N_TOTAL="${N_TOTAL:-115846}"
SIZE="${SIZE:-500x375}"
TEST_PER_CLASS="${TEST_PER_CLASS:-1}"
JOBS="${JOBS:-$(nproc)}"
SPLITS="${SPLITS:-../shared/splits}"
if [[ "$N_TOTAL" == 115846 ]]; then
    SIM_DIR="${SIM_DIR:-target/sim-imagenet-lt}"
else
    SIM_DIR="${SIM_DIR:-target/sim-imagenet-lt-$N_TOTAL}"
fi
for f in ImageNet_LT_val.txt ImageNet_LT_test.txt; do
    [[ -f "$SPLITS/$f" ]] || { echo "sim-imagenet-lt: $SPLITS/$f missing (set SPLITS)" >&2; exit 1; }
done

# One simulation per folder: refuse to mix images of other parameters.
stamp="N_TOTAL=$N_TOTAL SIZE=$SIZE TEST_PER_CLASS=$TEST_PER_CLASS"
mkdir -p "$SIM_DIR"
if [[ -f "$SIM_DIR/params" && "$(cat "$SIM_DIR/params")" != "$stamp" ]]; then
    echo "sim-imagenet-lt: $SIM_DIR holds a simulation of $(cat "$SIM_DIR/params"), not $stamp; set SIM_DIR or remove it" >&2
    exit 1
fi
echo "$stamp" > "$SIM_DIR/params"

echo "== generating ($stamp, $JOBS processes)"
t0=$(date +%s.%N)
.venv/bin/python scripts/sim_imagenet_lt.py "$SIM_DIR" --splits "$SPLITS" --total "$N_TOTAL" \
    --size "$SIZE" --test-per-class "$TEST_PER_CLASS" --jobs "$JOBS"
t1=$(date +%s.%N)
src_bytes=$(du -sb "$SIM_DIR/ILSVRC2012" | cut -f1)
awk -v t0="$t0" -v t1="$t1" -v b="$src_bytes" 'BEGIN { printf "generated in %.1f s, source %.2f GB\n", t1 - t0, b / 1e9 }'

echo "== building"
cargo build --release -q -p lt-toolkit --bin lt-data
out="$SIM_DIR/inet-lt"
timing="$SIM_DIR/time.txt"
# shellcheck disable=SC2086 # BUILD_ARGS is a list of flags
/usr/bin/time -v -o "$timing" target/release/lt-data build --dataset imagenet-lt \
    --src "$SIM_DIR/ILSVRC2012" --out "$out" \
    --split-file "$SIM_DIR/lists/ImageNet_LT_train.txt" \
    --test-file "$SIM_DIR/lists/ImageNet_LT_test.txt" ${BUILD_ARGS:-}

images=$(( $(wc -l < "$SIM_DIR/lists/ImageNet_LT_train.txt") + $(wc -l < "$SIM_DIR/lists/ImageNet_LT_test.txt") ))
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {
    n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$timing")
rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$timing")
cpu=$(awk -F': ' '/Percent of CPU/ {print $2}' "$timing")
out_bytes=$(du -sb "$out" | cut -f1)
echo "== lt-data build --dataset imagenet-lt, $images images ($(nproc) cores)"
awk -v w="$wall" -v n="$images" -v o="$out_bytes" -v r="$rss_kb" -v c="$cpu" 'BEGIN {
    printf "wall time    %.1f s\n", w
    printf "images/s     %.0f\n", n / w
    printf "output size  %.2f GB (%d bytes)\n", o / 1e9, o
    printf "peak memory  %.0f MiB (maximum resident set size)\n", r / 1024
    printf "CPU          %s\n", c
}'
