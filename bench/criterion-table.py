#!/usr/bin/env python3
"""Prints the engine benchmarks (benches/engine.rs) as Markdown tables from criterion's
estimates: time per order for 1, 10, 100 and 1,000 lines, and how it grows.

    bench/criterion-table.py [target/criterion]

"per line" is the slope between 100 and 1,000 lines ((t1000 - t100) / 900); "x10 ratios" are
t100/t10 and t1000/t100: 10.0 is exactly linear, less means a fixed cost still shows.
"""
import json
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.environ.get("CARGO_TARGET_DIR", "target"), "criterion")
SIZES = [1, 10, 100, 1000]


def estimate(group, name, n):
    path = os.path.join(root, group, name, str(n), "new", "estimates.json")
    try:
        with open(path) as f:
            e = json.load(f)
    except OSError:
        return None
    # The median is the least disturbed by a busy machine.
    return e["median"]["point_estimate"]


def fmt(ns):
    if ns is None:
        return "-"
    if ns < 1e3:
        return f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns / 1e6:.2f} ms"


for group in ("render", "normalize", "flow", "canonical"):
    gdir = os.path.join(root, group)
    if not os.path.isdir(gdir):
        continue
    names = sorted(d for d in os.listdir(gdir) if d != "report")
    print(f"\n**{group}** (median time per order)\n")
    print("| | 1 line | 10 lines | 100 lines | 1,000 lines | per line | x10 ratios |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in names:
        t = [estimate(group, name, n) for n in SIZES]
        per_line = (t[3] - t[2]) / 900 if t[2] and t[3] else None
        ratios = (f"{t[2] / t[1]:.1f} / {t[3] / t[2]:.1f}"
                  if all(t[1:]) else "-")
        print(f"| {name} | " + " | ".join(fmt(x) for x in t)
              + f" | {fmt(per_line)} | {ratios} |")
