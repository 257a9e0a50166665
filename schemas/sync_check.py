#!/usr/bin/env python3
"""Check that openapi.json components/schemas equal order.schema.json $defs.

Each $defs entry, with "#/$defs/X" rewritten to "#/components/schemas/X", must equal the
components/schemas entry of the same name, and both sides must hold the same names.
Exits 1, printing the differing names, otherwise 0.
"""
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def rewrite(node):
    if isinstance(node, dict):
        return {k: (v.replace("#/$defs/", "#/components/schemas/", 1)
                    if k == "$ref" and isinstance(v, str) else rewrite(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [rewrite(v) for v in node]
    return node


def main():
    defs = json.loads((HERE / "order.schema.json").read_text())["$defs"]
    comps = json.loads((HERE / "openapi.json").read_text())["components"]["schemas"]
    differing = sorted(name for name in set(defs) | set(comps)
                       if name not in defs or name not in comps or rewrite(defs[name]) != comps[name])
    if differing:
        for name in differing:
            where = ("missing in openapi.json" if name not in comps else
                     "missing in order.schema.json" if name not in defs else "differs")
            print(f"{name}: {where}")
        return 1
    print(f"ok: {len(defs)} schemas in sync")
    return 0


if __name__ == "__main__":
    sys.exit(main())
