"""The seeds table of docs/results.md, from a committed archive of per-seed results, so that the
table survives the machine that ran it and a sweep can be finished over several sessions.

    python3 scripts/results_seeds.py collect RUNS ARCHIVE   # finished seeds of RUNS -> ARCHIVE
    python3 scripts/results_seeds.py pending ARCHIVE ROW 0,1,2   # the seeds ROW still lacks
    python3 scripts/results_seeds.py table ARCHIVE EPOCHS   # rewrites the <!-- seeds --> block

ARCHIVE/ROW/seed-S.json holds the headline metrics of one finished `lt-train` run (RUNS/ROW/
seed-S/metrics.json). ARCHIVE/ROW/recorded.json instead holds a row whose per-seed values were
not archived (n, mean and sample std per metric, and where they come from): every statistic
below needs only n, mean and std, so both kinds mix. Mean ± sample std (n - 1) over the seeds;
relative accuracy 100 A_t / A_u with A_u = max(A_v, A_b) from the balanced-profile rows; the
smallest top-1 difference that n seeds a method can tell apart.
"""
import glob
import json
import math
import os
import re
import statistics
import sys

# (label, row, the balanced rows whose best mean top-1 is A_u). Post-hoc logit adjustment on a
# balanced training set subtracts the same log(1/K) from every logit: it is CE there, so its A_b
# is A_v.
ROWS = [
    ("CE", "ce", ["bal-ce"]),
    ("CE + mixup", "ce-mixup", ["bal-ce", "bal-ce-mixup"]),
    ("MiSLAS", "mislas", ["bal-ce", "bal-mislas"]),
    ("Logit adjustment (post-hoc)", "logit-adjustment", ["bal-ce"]),
    ("SADE (test-time aggregation)", "sade", ["bal-ce", "bal-sade"]),
]
METRICS = ["top1", "many", "medium", "few", "ece", "nll"]
# Two-sided 97.5 % quantiles of Student's t for 2 (n - 1) degrees of freedom: n seeds a method.
T975 = {2: 4.303, 3: 2.776, 5: 2.306, 10: 2.101}


def collect(runs, archive):
    """Copies the headline metrics of every finished seed under RUNS into ARCHIVE (idempotent)."""
    for path in sorted(glob.glob(os.path.join(runs, "*", "seed-*", "metrics.json"))):
        seed_dir = os.path.dirname(path)
        row = os.path.basename(os.path.dirname(seed_dir))
        seed = int(os.path.basename(seed_dir)[len("seed-"):])
        m = json.load(open(path))
        out = os.path.join(archive, row, f"seed-{seed}.json")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        record = {"seed": seed, **{k: m[k] for k in METRICS}}
        open(out + ".tmp", "w").write(json.dumps(record, indent=1) + "\n")
        os.replace(out + ".tmp", out)


def pending(archive, row, seeds):
    """The seeds of the comma list SEEDS that ROW has not archived yet (a recorded row has all)."""
    if os.path.exists(os.path.join(archive, row, "recorded.json")):
        return []
    return [s for s in seeds.split(",") if not os.path.exists(os.path.join(archive, row, f"seed-{s}.json"))]


def stats(archive, row):
    """{"n": n, metric: (mean, std or None)} of ROW, or None when it has nothing archived."""
    rec = os.path.join(archive, row, "recorded.json")
    if os.path.exists(rec):
        r = json.load(open(rec))
        return {"n": r["n"], **{k: (v["mean"], v["std"]) for k, v in r["metrics"].items()}}
    seeds = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(archive, row, "seed-*.json")))]
    if not seeds:
        return None
    out = {"n": len(seeds)}
    for k in METRICS:
        v = [s[k] for s in seeds]
        out[k] = (statistics.mean(v), statistics.stdev(v) if len(v) > 1 else None)
    return out


def cell(mean_std, digits=2):
    mean, std = mean_std
    return f"{mean:.{digits}f}" + ("" if std is None else f" ± {std:.{digits}f}")


def upper(archive, refs):
    """A_u and the row it came from, or None while a balanced row is missing."""
    tops = {}
    for r in refs:
        s = stats(archive, r)
        if s is None:
            return None
        tops[r] = s["top1"][0]
    best = max(tops, key=tops.get)
    return tops[best], best


def row(archive, label, name, refs, seeds):
    s = stats(archive, name)
    if s is None:
        return f"| {label} | not run yet | | | | | | | | |"
    n = f"{s['n']}" if s["n"] >= seeds else f"{s['n']} of {seeds}"
    u = upper(archive, refs)
    if u is None:
        au, rel = "waits for the balanced runs", "-"
    else:
        mean, std = s["top1"]
        au, rel = f"{u[0]:.2f} ({u[1]})", cell((100 * mean / u[0], None if std is None else 100 * std / u[0]))
    cols = " | ".join(cell(s[k], 3 if k == "nll" else 2) for k in METRICS)
    return f"| {label} | {n} | {cols} | {au} | {rel} |"


def seeds_needed(spreads):
    """The pooled seed-to-seed std of top-1 over rows of (n, std) and, per n, the smallest difference
    a two-sided two-sample t-test at 5 % separates: t(0.975, 2n - 2) * s * sqrt(2 / n)."""
    dof = sum(n - 1 for n, _ in spreads)
    s = math.sqrt(sum((n - 1) * sd**2 for n, sd in spreads) / dof)
    cells = " | ".join(f"{T975[n] * s * math.sqrt(2 / n):.2f}" for n in T975)
    return [
        f"Seed-to-seed spread of top-1, pooled over the {len(spreads)} rows above with more than one "
        f"seed: s = {s:.2f} points. "
        "With n seeds a method, two methods differ at the 5 % level (two-sided two-sample t-test) "
        "when their mean top-1 differ by more than t(0.975, 2n - 2) s sqrt(2/n):", "",
        "| seeds a method | " + " | ".join(str(n) for n in T975) + " |",
        "| --- |" + " --- |" * len(T975),
        "| smallest top-1 difference told apart | " + cells + " |",
    ]


def table(archive, epochs, seeds=3):
    lines = [
        f"Command: `EPOCHS={epochs} bash scripts/results-seeds.sh` (the protocol of the table above; "
        "MiSLAS and logit adjustment start each seed from the stage 1 of the same seed; per-seed "
        f"results are kept in `{archive}`). Mean ± sample standard deviation (n - 1) over the seeds; "
        "relative accuracy 100 A_t / A_u, A_u the best mean top-1 of vanilla CE (bal-ce) and of the "
        "same method (bal-...) trained on the balanced profile of the same total (1,488 images a "
        "class).", "",
        "| method | seeds | top-1 | many | medium | few | ECE | NLL | A_u (from) | relative accuracy |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    spreads = []
    for label, name, refs in ROWS:
        lines.append(row(archive, label, name, refs, seeds))
        s = stats(archive, name)
        if s and s["n"] > 1:
            spreads.append((s["n"], s["top1"][1]))
    if spreads:
        lines += [""] + seeds_needed(spreads)
    return lines


def write_block(lines, doc="docs/results.md"):
    text = open(doc).read()
    block = "<!-- seeds: written by scripts/results-seeds.sh -->\n" + "\n".join(lines) + "\n<!-- /seeds -->"
    if "<!-- seeds" not in text:
        raise SystemExit(f"{doc}: no <!-- seeds --> block to replace")
    text = re.sub(r"<!-- seeds.*?<!-- /seeds -->", lambda _: block, text, count=1, flags=re.S)
    open(doc + ".tmp", "w").write(text)
    os.replace(doc + ".tmp", doc)


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "collect":
        collect(*args)
    elif cmd == "pending":
        print(",".join(pending(*args)))
    elif cmd == "table":
        lines = table(*args)
        write_block(lines)
        print("\n".join(lines))
    else:
        raise SystemExit(f"results_seeds.py: unknown command {cmd!r} (collect, pending or table)")


if __name__ == "__main__":
    main(sys.argv)
