#!/usr/bin/env bash
# JPEG speed, side by side on the same cores (farm-bench: A and B in turn, ratio pair by pair):
#
#   bash scripts/bench-jpeg.sh            # N=4000 images a tree, RUNS=5 pairs a comparison
#
# Two generated class-per-folder trees of photo-like JPEGs (benches/jpeg_tree.py): "small",
# ~500x375, and "large", ~1000x750 (the size of large ImageNet / iNaturalist images), under
# target/bench-jpeg. For each:
#   build    lt-data build --max-side 256 --store jpeg (quality 90) against benches/build_pil.py
#            (PIL + multiprocessing.Pool, the same work and output), whole processes timed;
#            on the small tree also against PIL decoding alone (build_pil.py decode: the decode
#            floor), on the large one also against build_pil.py --draft (PIL's own reduced-
#            scale decoding);
#   loader   lt-data bench --aug imagenet (random-resized-crop 224, flip, colour jitter 0.4,
#            normalise) against benches/loader_torch.py (torch DataLoader, the same torchvision
#            transforms), batch 128, workers = cores, on the tree stored at full size as JPEG
#            q90; the images/s each prints (start-up excluded on both sides).
# Prints one line per comparison: ratio of medians, and the pair-by-pair ratios. Run it on a
# quiet machine: anything else running skews one side more than the other.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
N=${N:-4000}
RUNS=${RUNS:-5}
CORES=$(nproc)
B=target/bench-jpeg
PY=.venv/bin/python
cargo build --release -q -p lt-toolkit --bin lt-data
lt=target/release/lt-data
mkdir -p $B/out
for t in small:500x375 large:1000x750; do
    name=${t%%:*}
    $PY benches/jpeg_tree.py "$B/$name-$N" --n "$N" --size "${t#*:}" > /dev/null
    [ -f "$B/$name-$N-ltd/manifest.json" ] ||
        $lt build --dataset folder --src "$B/$name-$N" --store jpeg --out "$B/$name-$N-ltd" -q
done

# wall NAME 'A' 'B': farm-bench's medians of whole-process wall time, B / A (A's speed-up).
wall() {
    local name=$1 a=$2 b=$3
    local f=$B/out/${name// /-}.txt
    farm-bench -n "$RUNS" --timeout 1800 --vs "$b" -- $a > "$f" 2>&1
    python3 - "$f" "$name" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"^A/B wall\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)", text, re.M)
a = re.search(r"^A wall s\s+[0-9.]+\s+([0-9.]+)", text, re.M)
b = re.search(r"^B wall s\s+[0-9.]+\s+([0-9.]+)", text, re.M)
if not m:
    print(f"{sys.argv[2]}: could not read the ratio; see {sys.argv[1]}"); sys.exit(0)
lo, med, hi = (float(x) for x in m.groups())
print(f"{sys.argv[2]:28} {a.group(1)} s vs {b.group(1)} s: {1 / med:.2f}x (A/B wall median {med:.3f}, min {lo:.3f}, max {hi:.3f})")
PY
}

# rate NAME 'A' 'B': the images/s each side prints, median over the runs (warm-up dropped).
rate() {
    local name=$1 a=$2 b=$3 f
    f=$B/out/${name// /-}
    rm -f "$f.a" "$f.b"
    farm-bench -n "$RUNS" --timeout 3000 \
        --vs "sh -c 'exec $b >> $f.b 2>&1'" -- sh -c "exec $a >> $f.a 2>&1" > "$f.txt" 2>&1
    python3 - "$f" "$name" <<'PY'
import statistics, sys
base, name = sys.argv[1], sys.argv[2]
get = lambda f: [float(l.split()[1]) for l in open(f) if l.startswith("images/s ")][1:]
a, b = get(base + ".a"), get(base + ".b")
if not a or not b:
    print(f"{name}: no images/s lines; see {base}.a, {base}.b"); sys.exit(0)
ma, mb = statistics.median(a), statistics.median(b)
pairs = " ".join(f"{x / y:.2f}" for x, y in zip(a, b))
print(f"{name:28} {ma:.0f} vs {mb:.0f} images/s: {ma / mb:.2f}x (pairs {pairs})")
PY
}

S=$B/small-$N
L=$B/large-$N
build() { echo "$lt build --dataset folder --src $1 --out $B/out/lt-$2 --max-side 256 --store jpeg --quality 90 --force -q"; }
pil() { echo "$PY benches/build_pil.py $1 $2 $B/out/py-$3 --workers $CORES --max-side 256 --quality 90 ${4:-}"; }
echo "== JPEG speed: N=$N images a tree, $CORES cores, $RUNS pairs; $(date -u +%F)"
wall "build small vs PIL" "$(build $S s)" "$(pil folder $S s)"
wall "build small vs PIL decode" "$(build $S s)" "$(pil decode $S d)"
wall "build large vs PIL" "$(build $L l)" "$(pil folder $L l)"
wall "build large vs PIL draft" "$(build $L l)" "$(pil folder $L l --draft)"
rate "loader small vs torch" "$lt bench $S-ltd --aug imagenet --batch 128 --threads $CORES" \
    "$PY benches/loader_torch.py $S-ltd --aug imagenet --batch 128 --workers $CORES"
rate "loader large vs torch" "$lt bench $L-ltd --aug imagenet --batch 128 --threads $CORES" \
    "$PY benches/loader_torch.py $L-ltd --aug imagenet --batch 128 --workers $CORES"
echo "== where the time goes (lt-data --time-stages)"
for t in $S $L; do
    echo "-- build $t"
    $lt build --dataset folder --src "$t" --out $B/out/lt-prof --max-side 256 --store jpeg \
        --force -q --time-stages 2>&1 | tee "$B/out/profile-${t##*/}.txt"
    echo "-- loader $t-ltd"
    $lt bench "$t-ltd" --aug imagenet --batch 128 --threads "$CORES" --time-stages | tail -6
done

# The ceiling on the large build: PIL's wall time over the time of our decode stage alone (its
# thread-seconds spread over the cores), as if reading, resizing, encoding and writing cost
# nothing. Our decode is libjpeg-turbo's at 1/2 scale, the same decoder PIL's draft uses.
echo "== large build: the decode stage alone against PIL (a ceiling for any builder on libjpeg-turbo)"
python3 - "$B/out" "$CORES" "large-$N" <<'PY'
import re, sys
out, cores, tree = sys.argv[1], int(sys.argv[2]), sys.argv[3]
prof = open(f"{out}/profile-{tree}.txt").read()
m = re.search(r"^decode\s+([0-9.]+)\s+[0-9.]+%\s+(\d+)\s+([0-9.]+)", prof, re.M)
if not m:
    print(f"no decode line in {out}/profile-{tree}.txt"); sys.exit(0)
decode_wall = float(m.group(1)) / cores
print(f"decode stage {m.group(3)} ms an image, {decode_wall:.2f} s of wall on {cores} cores")
for name in ("build-large-vs-PIL", "build-large-vs-PIL-draft"):
    b = re.search(r"^B wall s\s+[0-9.]+\s+([0-9.]+)", open(f"{out}/{name}.txt").read(), re.M)
    if b:
        print(f"{name:28} PIL {b.group(1)} s: at most {float(b.group(1)) / decode_wall:.2f}x")
PY
