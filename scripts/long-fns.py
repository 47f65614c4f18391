#!/usr/bin/env python3
"""Lists library functions longer than N lines (default 80): the style rule of the README.

    python3 scripts/long-fns.py [N]

Reads the tracked `.rs` files outside tests, benches and examples; a function is measured from
its `fn` line to the closing brace at the same indentation; `extern` declarations (no body) and
`#[cfg(test)]` modules are skipped. A function that stays long on purpose says why in a comment
on the lines just above it, and is listed with "(reason above)".
"""
import os
import re
import subprocess
import sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 80
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
files = subprocess.run(["git", "-C", root, "ls-files", "*.rs"], capture_output=True, text=True,
                       check=True).stdout.split()
fn_line = re.compile(r'^(\s*)(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?'
                     r'(extern\s+"C"\s+)?fn\s+(\w+)')
found = 0
for f in files:
    if (f.startswith("tests/") or "/tests/" in f or "/benches/" in f or "/examples/" in f
            or f.endswith("tests.rs")):
        continue
    lines = open(os.path.join(root, f)).read().split("\n")
    in_test = False
    for i, line in enumerate(lines):
        if re.match(r"^\s*#\[cfg\(test\)\]", line):
            in_test = True
        m = fn_line.match(line)
        if in_test or not m:
            continue
        k = i
        while k < len(lines) and "{" not in lines[k] and not lines[k].rstrip().endswith(";"):
            k += 1
        if k == len(lines) or "{" not in lines[k]:
            continue  # a declaration without a body
        if lines[k].count("{") == lines[k].count("}"):
            continue  # a body on one line
        indent = m.group(1)
        end = next((j for j in range(k, len(lines)) if lines[j] == indent + "}"), None)
        if end is None or end - i + 1 <= N:
            continue
        above = " ".join(lines[max(0, i - 4):i]).lower()
        note = " (reason above)" if "long" in above or "reason" in above else ""
        print(f"{f}:{i + 1} {m.group(8)}: {end - i + 1} lines{note}")
        found += 1
print(f"{found} functions over {N} lines")
