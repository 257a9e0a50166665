#!/usr/bin/env python3
"""The function order bench/pgo.sh links the profile-guided binary in (lld's
--symbol-ordering-file): the request path first, then the code a start runs, then the rest the
training ran; what never ran keeps the linker's order after them. See BENCHMARKS.md, step 17.

    link-order.py LLVM_PROFDATA TRAINING.profdata START.profdata > order.txt

TRAINING is the counts of the whole training (the golden fixtures and the served creates),
START those of a gateway started and stopped with no request. A function is named as the
profile names it (its symbol, after the `file;` prefix of a local one) and ranked by its
largest counter (the first counter is not the entry count in LLVM's IR profiles). The code no
profile counts (the standard library, which is not rebuilt, and the allocator's C) keeps the
linker's order: laid out between the request path and the start (named by the instrumented
binary's symbols) it made the start's pages more, not fewer (step 17).

Why: the pages a process touches stay resident, and the kernel maps whole 64 KB windows (or
larger page-cache folios) around each one. Left in the linker's order, the ~1.3 MB of code a
start runs is spread over ~4 MB of the text, all of it resident while the gateway idles; laid
out together it stays ~1.3 MB. Hot functions are laid out by count, which replaces lld's
call-graph sort (an ordering file turns it off); callgrind's cache simulation measured the
same instruction-cache misses per request either way.
"""

import re
import subprocess
import sys

# Executed at least this often in the training (~120,000 requests): the request path.
HOT = 1000


def counts(profdata_tool, profile):
    """Function symbol -> its largest counter, for every function in `profile`."""
    shown = subprocess.run(
        [profdata_tool, "show", "--all-functions", "--counts", profile],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    out = {}
    name = None
    for line in shown.splitlines():
        if line.startswith("  ") and not line.startswith("    ") and line.endswith(":"):
            name = line.strip()[:-1].split(";", 1)[-1]
        elif name is not None and line.strip().startswith("Block counts:"):
            numbers = [int(n) for n in re.findall(r"\d+", line.split(":", 1)[1])]
            out[name] = max(numbers, default=0)
            name = None
    return out


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: link-order.py LLVM_PROFDATA TRAINING.profdata START.profdata")
    tool, training, start = sys.argv[1:]
    trained = counts(tool, training)
    started = {n for n, c in counts(tool, start).items() if c > 0}
    if not trained or not started:
        sys.exit("link-order.py: a profile holds no executed function")

    def by_count(names):
        return sorted(names, key=lambda n: (-trained.get(n, 0), n))

    hot = {n for n, c in trained.items() if c >= HOT}
    ran = {n for n, c in trained.items() if c > 0}
    # The request path without the start, then the start's share of it, then the rest of the
    # start: the hot code and the start's code are each one contiguous run. (A name the final
    # binary lacks, a function inlined everywhere, is skipped by lld.)
    order = (
        by_count(hot - started)
        + by_count(hot & started)
        + by_count(started - hot)
        + by_count(ran - hot - started)
    )
    sys.stdout.write("".join(n + "\n" for n in order))
    print(
        f"link-order.py: {len(hot)} hot functions, {len(started)} run at start, "
        f"{len(order)} ordered",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
