#!/usr/bin/env bash
# Exact instruction counts per request (valgrind's callgrind), for changes too small for the
# noise of bench/load.sh on a shared machine. See BENCHMARKS.md.
#
#   cargo build --profile profiling --bin ordergate
#   bench/callgrind.sh                         # Dokos creates, 15 s under callgrind
#   VENDOR=valomnia OUT=/tmp/v.cg bench/callgrind.sh
#   TARGET=bare bench/callgrind.sh             # the bare hyper proxy (examples/bare_proxy.rs)
#
# Starts on loopback an nginx upstream answering the vendor's recorded answer (bench/upstream/),
# then ordergate (or the bare proxy) under callgrind; wrk sends the vendor's 5-line canonical
# order (bench/orders/) on 4 connections for 3 s (warm-up, not counted), the counters are zeroed,
# wrk runs SECS more seconds and the counters are dumped. Prints the instructions per request,
# in all and in the main phases (inclusive), and leaves the profile in OUT for
# callgrind_annotate. Environment: VENDOR (dokos; mrdoc-xml, valomnia), SECS (15), TARGET
# (gateway; bare), BIN (target/profiling/ordergate, or target/release/examples/bare_proxy), OUT
# (/tmp/ordergate.cg), VGARGS (more valgrind options, e.g. --toggle-collect=FUNCTION to count
# one phase alone).
set -euo pipefail
VENDOR=${VENDOR:-dokos}
SECS=${SECS:-15}
TARGET=${TARGET:-gateway}
OUT=${OUT:-/tmp/ordergate.cg}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET in
gateway) BIN=${BIN:-$TARGET_DIR/profiling/ordergate} ;;
bare) BIN=${BIN:-$TARGET_DIR/release/examples/bare_proxy} ;;
*) echo "callgrind.sh: TARGET is gateway or bare" >&2; exit 2 ;;
esac
die() {
    echo "callgrind.sh: $*" >&2
    exit 1
}
# shellcheck source=bench/rig.sh
source "$BENCH/rig.sh"
[[ -n ${VPATH[$VENDOR]:-} ]] || die "unknown vendor $VENDOR (dokos, mrdoc-xml, valomnia)"
[[ $SECS =~ ^[0-9]+$ && $SECS -gt 0 ]] || die "SECS must be a positive integer"
for t in valgrind callgrind_annotate callgrind_control wrk python3; do
    command -v "$t" >/dev/null || die "$t is missing (apt-get install valgrind wrk)"
done
find_nginx
[[ -x $BIN ]] || die "no binary at $BIN"
scratch cg

start_upstream
GW=$(free_port)
if [[ $TARGET == gateway ]]; then
    url=http://127.0.0.1:$GW/v1/connections/$VENDOR/orders
    ORDERGATE_LOG=info valgrind --tool=callgrind --callgrind-out-file="$OUT" --dump-instr=no ${VGARGS:-} \
        "$BIN" serve --config "$TMP/gw/ordergate.yaml" --listen "127.0.0.1:$GW" >"$TMP/gw.log" 2>&1 &
else
    url=http://127.0.0.1:$GW${VPATH[$VENDOR]}
    valgrind --tool=callgrind --callgrind-out-file="$OUT" --dump-instr=no ${VGARGS:-} \
        "$BIN" "127.0.0.1:$GW" "http://127.0.0.1:$UP" >"$TMP/gw.log" 2>&1 &
fi
VG=$!
PIDS+=("$VG")
wait_port "$GW"
write_post_lua "$TMP/post.lua"
rm -f "$OUT" "$OUT".*
ORDER_FILE=$BENCH/orders/$VENDOR.json wrk -t1 -c4 -d3s -s "$TMP/post.lua" "$url" >/dev/null
callgrind_control -z "$VG" >/dev/null 2>&1
ORDER_FILE=$BENCH/orders/$VENDOR.json wrk -t1 -c4 -d"${SECS}s" -s "$TMP/post.lua" "$url" >"$TMP/wrk.out"
callgrind_control -d "$VG" >/dev/null 2>&1
requests=$(wrk_requests "$TMP/wrk.out" "$TMP/gw.log")
# The dump after the counted run is the first numbered part.
PROFILE=$OUT.1
[[ -f $PROFILE ]] || die "no dump at $PROFILE"
callgrind_annotate --threshold=100 --inclusive=yes "$PROFILE" 2>/dev/null >"$TMP/incl.txt"
python3 - "$requests" "$TMP/incl.txt" "$TARGET $VENDOR" <<'EOF'
import re, sys
n, path, what = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rows = []
for line in open(path):
    m = re.match(r'\s*([\d,]+) \([\s\d.]+%\)\s+(.*?)(\s+\[[^]]*\])?$', line)
    if m:
        rows.append((int(m.group(1).replace(',', '')), m.group(2)))
print(f"{what}: {n} requests, {rows[0][0] / n:,.0f} instructions per request")
phases = [
    ("the canonical body parsed", r"json.rs:ordergate::codec::json::parse$"),
    ("validated", r"validate::check_body$"),
    ("the flow (render, call, read)", r"mod.rs:ordergate::flow::run::\{\{closure\}\}$"),
    ("  the vendor request rendered", r"render.rs:ordergate::engine::render::render$"),
    ("  the upstream call", r"Transport>::send::\{\{closure\}\}$"),
    ("  the answer read", r"normalize.rs:ordergate::flow::normalize::answer$"),
    ("  the canonical order written", r"Evaluator::write_json_noting$"),
    ("the access log line", r"fmt_layer::Layer<S,N,E,W> as tracing_subscriber::layer::Layer<S>>::on_event$"),
    ("malloc", r"mi_malloc_aligned$"),
]
for name, p in phases:
    hits = [c for c, f in rows if re.search(p, f)]
    if hits:
        print(f"  {name:32} {max(hits) / n:>10,.0f}")
EOF
echo "profile: $PROFILE (callgrind_annotate --inclusive=yes $PROFILE)"
