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
# (/tmp/ordergate.cg).
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
declare -A VPATH=([dokos]="/api/resource/Sales%20Order" [mrdoc-xml]="/api/1/DocSaleOrder.xml" [valomnia]="/api/v2.1/orders")
[[ -n ${VPATH[$VENDOR]:-} ]] || { echo "callgrind.sh: unknown vendor $VENDOR" >&2; exit 2; }
[[ $SECS =~ ^[0-9]+$ && $SECS -gt 0 ]] || { echo "callgrind.sh: SECS must be a positive integer" >&2; exit 2; }
for t in valgrind callgrind_annotate callgrind_control wrk python3; do
    command -v "$t" >/dev/null || { echo "callgrind.sh: $t is missing (apt-get install valgrind wrk)" >&2; exit 1; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $NGINX ]] || { echo "callgrind.sh: nginx is missing (apt-get install nginx-light)" >&2; exit 1; }
[[ -x $BIN ]] || { echo "callgrind.sh: no binary at $BIN" >&2; exit 1; }

TMP=$(mktemp -d /tmp/ordergate-cg.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() {
    local i
    for ((i = 0; i < 300; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.2
    done
    echo "callgrind.sh: nothing listens on port $1" >&2
    exit 1
}
nginx_text() { python3 -c 'import sys; s=open(sys.argv[1]).read(); print("'"'"'" + s.replace("\\","\\\\").replace("'"'"'","\\'"'"'") + "'"'"'")' "$1"; }

UP=$(free_port)
GW=$(free_port)
mkdir -p "$TMP/up/logs" "$TMP/gw"
cat >"$TMP/up/nginx.conf" <<EOF
worker_processes 1;
pid $TMP/up/nginx.pid;
error_log $TMP/up/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    types { }
    keepalive_requests 100000000;
    client_body_temp_path $TMP/up/body;
    server {
        listen 127.0.0.1:$UP;
        location = "/api/resource/Sales Order" { default_type application/json; return 200 $(nginx_text "$BENCH/upstream/dokos.json"); }
        location = /api/1/DocSaleOrder.xml { default_type "application/xml; charset=utf-8"; return 200 $(nginx_text "$BENCH/upstream/mrdoc.xml"); }
        location = /j_spring_security_check { default_type application/json; add_header Set-Cookie "JSESSIONID=9A1F3C5E7B2D4F60; Path=/" always; return 200 $(nginx_text "$BENCH/upstream/valomnia-login.json"); }
        location = /api/v2.1/orders { default_type application/json; return 201 $(nginx_text "$BENCH/upstream/valomnia.json"); }
        location / { return 404; }
    }
}
EOF
cp -r "$ROOT/mappings" "$TMP/gw/mappings"
cat >"$TMP/gw/ordergate.yaml" <<EOF
default_connection: dokos
mappings: [mappings]
connections:
  dokos: { vendor: dokos, base_url: "http://127.0.0.1:$UP", secrets: { api_key: bench-key, api_secret: bench-secret }, settings: { company: Gateway Test GmbH } }
  mrdoc-xml: { vendor: mrdoc, base_url: "http://127.0.0.1:$UP", secrets: { login: api-user, password: s3cret }, settings: { format: xml, organization_id: 1, price_type_id: 2 } }
  valomnia: { vendor: valomnia, base_url: "http://127.0.0.1:$UP", secrets: { username: gateway, password: secret-pass }, settings: { timezone: UTC } }
EOF
"$NGINX" -p "$TMP/up" -c "$TMP/up/nginx.conf" -g 'daemon off;' &
PIDS+=($!)
wait_port "$UP"
if [[ $TARGET == gateway ]]; then
    url=http://127.0.0.1:$GW/v1/connections/$VENDOR/orders
    ORDERGATE_LOG=info valgrind --tool=callgrind --callgrind-out-file="$OUT" --dump-instr=no \
        "$BIN" serve --config "$TMP/gw/ordergate.yaml" --listen "127.0.0.1:$GW" >"$TMP/gw.log" 2>&1 &
else
    url=http://127.0.0.1:$GW${VPATH[$VENDOR]}
    valgrind --tool=callgrind --callgrind-out-file="$OUT" --dump-instr=no \
        "$BIN" "127.0.0.1:$GW" "http://127.0.0.1:$UP" >"$TMP/gw.log" 2>&1 &
fi
VG=$!
PIDS+=("$VG")
wait_port "$GW"
cat >"$TMP/post.lua" <<'EOF'
local f = assert(io.open(os.getenv("ORDER_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
function done(summary, latency, requests)
    io.write(string.format("RESULT %d %d\n", summary.requests, summary.errors.status))
end
EOF
rm -f "$OUT" "$OUT".*
ORDER_FILE=$BENCH/orders/$VENDOR.json wrk -t1 -c4 -d3s -s "$TMP/post.lua" "$url" >/dev/null
callgrind_control -z "$VG" >/dev/null 2>&1
ORDER_FILE=$BENCH/orders/$VENDOR.json wrk -t1 -c4 -d"${SECS}s" -s "$TMP/post.lua" "$url" >"$TMP/wrk.out"
callgrind_control -d "$VG" >/dev/null 2>&1
read -r requests non2xx <<<"$(awk '/^RESULT/ {print $2, $3}' "$TMP/wrk.out")"
[[ ${non2xx:-1} == 0 && ${requests:-0} -gt 0 ]] || { cat "$TMP/wrk.out" "$TMP/gw.log" >&2; echo "callgrind.sh: the requests failed" >&2; exit 1; }
# The dump after the counted run is the first numbered part.
PROFILE=$OUT.1
[[ -f $PROFILE ]] || { echo "callgrind.sh: no dump at $PROFILE" >&2; exit 1; }
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
    ("the canonical body parsed", r"value::text::from_json_bytes$|text.rs:serde_json::de::from_trait$"),
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
