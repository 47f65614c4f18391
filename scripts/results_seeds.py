"""Writes the seeds table of docs/results.md from the `lt-train --seeds` directories of
scripts/results-seeds.sh: mean ± sample std (n - 1) of each metric over the seeds (their
summary.json), the relative accuracy 100 A_t / A_u with A_u = max(A_v, A_b) from the balanced-
profile sweeps, and the smallest top-1 difference that n seeds a method can tell apart.

    python3 scripts/results_seeds.py RUNS_DIR EPOCHS
"""
import json
import math
import os
import re
import statistics
import sys

# (label, sweep, the balanced sweeps whose best mean top-1 is A_u). Post-hoc logit adjustment on
# a balanced training set subtracts the same log(1/K) from every logit: it is CE there, so its
# A_b is A_v.
ROWS = [
    ("CE", "ce", ["bal-ce"]),
    ("CE + mixup", "ce-mixup", ["bal-ce", "bal-ce-mixup"]),
    ("MiSLAS", "mislas", ["bal-ce", "bal-mislas"]),
    ("Logit adjustment (post-hoc)", "logit-adjustment", ["bal-ce"]),
    ("SADE (test-time aggregation)", "sade", ["bal-ce", "bal-sade"]),
]
# Two-sided 97.5 % quantiles of Student's t for 2 (n - 1) degrees of freedom: n seeds a method.
T975 = {2: 4.303, 3: 2.776, 5: 2.306, 10: 2.101}


def summary(runs, name):
    p = os.path.join(runs, name, "summary.json")
    return json.load(open(p)) if os.path.exists(p) else None


def seed_top1s(runs, name, s):
    return [json.load(open(os.path.join(runs, name, r, "metrics.json")))["top1"] for r in s["runs"]]


def cell(values, digits=2):
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def upper(runs, refs):
    """A_u and where it came from, or None while a balanced sweep is unfinished."""
    tops = {}
    for r in refs:
        s = summary(runs, r)
        if s is None:
            return None
        tops[r] = s["metrics"]["top1"]["mean"]
    best = max(tops, key=tops.get)
    return tops[best], best


def row(runs, label, name, refs):
    s = summary(runs, name)
    if s is None:
        return f"| {label} | not run yet | | | | | | | | |", None
    tops = seed_top1s(runs, name, s)
    M = s["metrics"]
    col = lambda k, d=2: "-" if k not in M else (
        f"{M[k]['mean']:.{d}f}" + ("" if M[k]["std"] is None else f" ± {M[k]['std']:.{d}f}"))
    u = upper(runs, refs)
    au, rel = ("waits for the balanced runs", "-") if u is None else (
        f"{u[0]:.2f} ({u[1]})", cell([100 * t / u[0] for t in tops]))
    line = (f"| {label} | {len(tops)} | {cell(tops)} | {col('many')} | {col('medium')} | {col('few')} "
            f"| {col('ece')} | {col('nll', 3)} | {au} | {rel} |")
    return line, tops


def seeds_needed(spreads):
    """The pooled seed-to-seed std of top-1 and, per n, the smallest difference a two-sided
    two-sample t-test at 5 % separates: t(0.975, 2n - 2) * s * sqrt(2 / n)."""
    s = math.sqrt(statistics.mean([statistics.variance(t) for t in spreads]))
    cells = " | ".join(f"{T975[n] * s * math.sqrt(2 / n):.2f}" for n in T975)
    return [
        f"Seed-to-seed spread of top-1, pooled over the {len(spreads)} rows above: s = {s:.2f} points. "
        "With n seeds a method, two methods differ at the 5 % level (two-sided two-sample t-test) "
        "when their mean top-1 differ by more than t(0.975, 2n - 2) s sqrt(2/n):", "",
        "| seeds a method | " + " | ".join(str(n) for n in T975) + " |",
        "| --- |" + " --- |" * len(T975),
        "| smallest top-1 difference told apart | " + cells + " |",
    ]


def main(runs, epochs):
    table = [
        f"Command: `EPOCHS={epochs} bash scripts/results-seeds.sh` (the protocol of the table above; "
        "MiSLAS and logit adjustment start each seed from the stage 1 of the same seed). Mean ± sample "
        "standard deviation (n - 1) over the seeds; relative accuracy 100 A_t / A_u, A_u the best "
        "mean top-1 of vanilla CE (bal-ce) and of the same method (bal-...) trained on the balanced "
        "profile of the same total (1,488 images a class).", "",
        "| method | seeds | top-1 | many | medium | few | ECE | NLL | A_u (from) | relative accuracy |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    spreads = []
    for label, name, refs in ROWS:
        line, tops = row(runs, label, name, refs)
        table.append(line)
        if tops and len(tops) > 1:
            spreads.append(tops)
    if spreads:
        table += [""] + seeds_needed(spreads)
    doc = "docs/results.md"
    text = open(doc).read()
    block = "<!-- seeds: written by scripts/results-seeds.sh -->\n" + "\n".join(table) + "\n<!-- /seeds -->"
    if "<!-- seeds" not in text:
        raise SystemExit(f"{doc}: no <!-- seeds --> block to replace")
    text = re.sub(r"<!-- seeds.*?<!-- /seeds -->", lambda _: block, text, count=1, flags=re.S)
    open(doc + ".tmp", "w").write(text)
    os.replace(doc + ".tmp", doc)
    print("\n".join(table))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
