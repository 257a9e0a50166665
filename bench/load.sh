#!/usr/bin/env bash
# Load benchmark of issue 7: ordergate translating canonical creates against nginx as a plain
# reverse proxy, on the same fixed-answer upstream, in the same run. See BENCHMARKS.md.
#
#   bench/load.sh                          # 3 rounds x 5 s, 32 connections
#   ROUNDS=5 DURATION=10 bench/load.sh     # longer
#
# What runs (every server in its own session with setsid, bound to 127.0.0.1 on a free port):
#   upstream  nginx answering each vendor's recorded create answer (and Valomnia's login with a
#             JSESSIONID cookie) from memory: the ERP stand-in
#   ordergate the release binary, connections dokos (JSON), mrdoc-xml (XML), valomnia (form),
#             all pointing at the upstream
#   proxy     nginx, plain proxy_pass to the upstream with upstream keepalive: the baseline
#   bare      examples/bare_proxy.rs: ordergate's stack (tokio, hyper, hyper-util's pooled
#             client, mimalloc) forwarding bytes, no translation, log or metrics: its floor
#   direct    wrk straight at the upstream: the rig's limit
# The servers share one core (SERVER_CPU), wrk runs on another (LOAD_CPU).
#
# Environment: ROUNDS (3), DURATION (5, seconds per run), CONNS (32), LAT_DURATION (3, the
# one-connection latency runs), MEM_CONNS (1000), MEM_DURATION (5), VENDORS ("dokos mrdoc-xml
# valomnia"), LOAD_CPU (0), SERVER_CPU (1), ACCESS_LOG (on: ordergate at its default `info`
# access log and nginx with its access log, both to a file; buffered: the same, nginx's log
# written in batches as ordergate writes its lines, `buffer=16k flush=50ms`; off: neither),
# BUILD (1; 0 uses the
# binary already built), RESULTS (where the raw figures go, tab-separated; default
# target/load-results.tsv), PERF (a file: also samples ordergate's CPU with perf during one
# more dokos run and prints the top symbols), ORDERGATE_BIN (a binary to measure instead of
# building one), COMPARE_BIN (a second ordergate binary, `gw-b`, measured in the same rounds as
# the first, on the same config: an A/B of two builds, e.g. bench/pgo.sh's), BARE_WORK (a
# calibration: a second bare proxy, `bare-w`, doing that many thousand rounds of pure
# arithmetic per request (examples/bare_proxy.rs), measured in the same rounds: what a proxy
# costs, in its own CPU and in the kernel's, that spends more of its own time per request).
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-32}
LAT_DURATION=${LAT_DURATION:-3}
MEM_CONNS=${MEM_CONNS:-1000}
MEM_DURATION=${MEM_DURATION:-5}
VENDORS=${VENDORS:-"dokos mrdoc-xml valomnia"}
LOAD_CPU=${LOAD_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
ACCESS_LOG=${ACCESS_LOG:-on}
BUILD=${BUILD:-1}
BARE_WORK=${BARE_WORK:-}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench

say() { printf '%s\n' "$*" >&2; }
die() { say "load.sh: $*"; exit 1; }

[[ -z $BARE_WORK || $BARE_WORK =~ ^[0-9]+$ ]] || die "BARE_WORK must be a count (thousands of rounds)"
[[ $ACCESS_LOG =~ ^(on|buffered|off)$ ]] || die "ACCESS_LOG is on, buffered or off"
for n in ROUNDS DURATION CONNS LAT_DURATION MEM_CONNS MEM_DURATION; do
    [[ ${!n} =~ ^[0-9]+$ && ${!n} -gt 0 && ${!n} -le 100000 ]] || die "$n must be a positive integer"
done

# ---- tools -------------------------------------------------------------------------------
need=()
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx-light)
command -v wrk >/dev/null || need+=(wrk)
if ((${#need[@]})); then
    [[ $(id -u) == 0 ]] || die "missing ${need[*]}: install them (apt-get install ${need[*]})"
    say "installing ${need[*]}"
    timeout 600 apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq "${need[@]}" >/dev/null
fi
# shellcheck source=bench/rig.sh
source "$BENCH/rig.sh"
find_nginx
for t in wrk taskset setsid python3 curl; do
    command -v "$t" >/dev/null || die "$t is missing"
done
CPUS=$(nproc)
((LOAD_CPU < CPUS && SERVER_CPU < CPUS)) || die "LOAD_CPU/SERVER_CPU beyond the $CPUS cores"
HZ=$(getconf CLK_TCK)

# ---- build -------------------------------------------------------------------------------
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${ORDERGATE_BIN:-$TARGET_DIR/release/ordergate}
if [[ $BUILD == 1 && -z ${ORDERGATE_BIN:-} ]]; then
    say "building the release binary"
    (cd "$ROOT" && timeout 3600 cargo build --release --quiet --bin ordergate)
fi
[[ -x $BIN ]] || die "no binary at $BIN"
COMPARE_BIN=${COMPARE_BIN:-}
[[ -z $COMPARE_BIN || -x $COMPARE_BIN ]] || die "no binary at $COMPARE_BIN"
TARGETS="gw${COMPARE_BIN:+ gw-b} proxy bare${BARE_WORK:+ bare-w} direct"
BARE=$TARGET_DIR/release/examples/bare_proxy
if [[ $BUILD == 1 ]]; then
    (cd "$ROOT" && timeout 3600 cargo build --release --quiet --example bare_proxy)
fi
[[ -x $BARE ]] || die "no bare proxy at $BARE (cargo build --release --example bare_proxy)"

# ---- scratch dir and cleanup -------------------------------------------------------------
TMP=$(mktemp -d /tmp/ordergate-load.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -TERM -- "-$p" 2>/dev/null || true
    done
    sleep 0.3
    for p in "${PIDS[@]}"; do
        kill -KILL -- "-$p" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ulimit -n 65536 2>/dev/null || ulimit -n 16384 2>/dev/null || true
(($(ulimit -n) > MEM_CONNS + 100)) || die "open file limit $(ulimit -n) too low for $MEM_CONNS connections"

# Starts a server in its own session (setsid), pinned to SERVER_CPU; prints its pid (= session).
start() { # log file, command...
    local log=$1
    shift
    setsid taskset -c "$SERVER_CPU" "$@" >"$log" 2>&1 </dev/null &
    PIDS+=($!)
    LAST_PID=$!
}

# Every process of a server's session.
members() { pgrep -s "$1" 2>/dev/null || true; }

cpu_ticks() { # session -> "utime stime" of its processes (clock ticks)
    local p u=0 s=0 stat rest
    for p in $(members "$1"); do
        stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        rest=${stat##*) }
        read -r -a f <<<"$rest"
        # fields 14, 15 of stat; after "pid (comm) " they are the 12th and 13th (index 11, 12)
        u=$((u + f[11]))
        s=$((s + f[12]))
    done
    echo "$u $s"
}

rss_kb() { # session -> VmRSS summed over its processes
    local p t=0 v
    for p in $(members "$1"); do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) || continue
        t=$((t + ${v:-0}))
    done
    echo "$t"
}

hwm_kb() {
    local p t=0 v
    for p in $(members "$1"); do
        v=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null) || continue
        t=$((t + ${v:-0}))
    done
    echo "$t"
}

# ---- the vendors ---------------------------------------------------------------------------
# Each needs its create path at the ERP (VPATH, bench/rig.sh) and its order file.
for v in $VENDORS; do
    [[ -n ${VPATH[$v]:-} ]] || die "unknown vendor $v (dokos, mrdoc-xml, valomnia)"
    [[ -f $BENCH/orders/$v.json ]] || die "no order $BENCH/orders/$v.json"
done

UP_PORT=$(free_port)
write_upstream_conf "$TMP/up" "$UP_PORT"
mkdir -p "$TMP/proxy/logs"

PROXY_PORT=$(free_port)
if [[ $ACCESS_LOG == on ]]; then
    PROXY_LOG="access_log $TMP/proxy/access.log;"
    GW_LOG=info
elif [[ $ACCESS_LOG == buffered ]]; then
    PROXY_LOG="access_log $TMP/proxy/access.log combined buffer=16k flush=50ms;"
    GW_LOG=info
else
    PROXY_LOG="access_log off;"
    GW_LOG=warn
fi
cat >"$TMP/proxy/nginx.conf" <<EOF
worker_processes 1;
pid $TMP/proxy/nginx.pid;
error_log $TMP/proxy/error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 16384; }
http {
    $PROXY_LOG
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    client_body_temp_path $TMP/proxy/body;
    proxy_temp_path $TMP/proxy/proxy;
    upstream erp {
        server 127.0.0.1:$UP_PORT;
        keepalive 64;
        keepalive_requests 100000000;
    }
    server {
        listen 127.0.0.1:$PROXY_PORT backlog=4096;
        location / {
            proxy_pass http://erp;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF

GW_PORT=$(free_port)
ADMIN_PORT=$(free_port)
write_gateway_conf "$TMP/gw" "$UP_PORT"

# Each of our binaries is started as it is once installed: read from the disk by its first
# start, not from the pages the build just wrote. A file written moments ago sits in the page
# cache in the large pieces its writes made, and a process that touches one page of a piece
# maps all of it: ~0.4-0.8 MB more resident at idle for the same code (step 17).
python3 - "$BIN" ${COMPARE_BIN:+"$COMPARE_BIN"} "$BARE" <<'PY'
import os, sys
for path in sys.argv[1:]:
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
PY

"$NGINX" -t -q -p "$TMP/up" -c "$TMP/up/nginx.conf" -g 'daemon off;' || die "upstream config"
"$NGINX" -t -q -p "$TMP/proxy" -c "$TMP/proxy/nginx.conf" -g 'daemon off;' || die "proxy config"

start "$TMP/up/stderr" "$NGINX" -p "$TMP/up" -c "$TMP/up/nginx.conf" -g 'daemon off;'
UP=$LAST_PID
wait_port "$UP_PORT"
start "$TMP/proxy/stderr" "$NGINX" -p "$TMP/proxy" -c "$TMP/proxy/nginx.conf" -g 'daemon off;'
PROXY=$LAST_PID
wait_port "$PROXY_PORT"
start "$TMP/ordergate.log" env ORDERGATE_LOG=$GW_LOG "$BIN" serve --config "$TMP/gw/ordergate.yaml" \
    --listen "127.0.0.1:$GW_PORT" --admin "127.0.0.1:$ADMIN_PORT"
GW=$LAST_PID
wait_port "$GW_PORT"
GWB=""
if [[ -n $COMPARE_BIN ]]; then
    GWB_PORT=$(free_port)
    write_gateway_conf "$TMP/gwb" "$UP_PORT"
    start "$TMP/ordergate-b.log" env ORDERGATE_LOG=$GW_LOG "$COMPARE_BIN" serve \
        --config "$TMP/gwb/ordergate.yaml" --listen "127.0.0.1:$GWB_PORT" --admin "127.0.0.1:$(free_port)"
    GWB=$LAST_PID
    wait_port "$GWB_PORT"
fi
BARE_PORT=$(free_port)
start "$TMP/bare.log" "$BARE" "127.0.0.1:$BARE_PORT" "http://127.0.0.1:$UP_PORT"
BARE_PID=$LAST_PID
wait_port "$BARE_PORT"
if [[ -n $BARE_WORK ]]; then
    BAREW_PORT=$(free_port)
    start "$TMP/bare-w.log" "$BARE" "127.0.0.1:$BAREW_PORT" "http://127.0.0.1:$UP_PORT" "$BARE_WORK"
    BAREW_PID=$LAST_PID
    wait_port "$BAREW_PORT"
fi
sleep 1
GW_IDLE_RSS=$(rss_kb "$GW")
PROXY_IDLE_RSS=$(rss_kb "$PROXY")
BARE_IDLE_RSS=$(rss_kb "$BARE_PID")
UP_IDLE_RSS=$(rss_kb "$UP")

gw_url() { echo "http://127.0.0.1:$GW_PORT/v1/connections/$1/orders"; }
gw-b_url() { echo "http://127.0.0.1:$GWB_PORT/v1/connections/$1/orders"; }
proxy_url() { echo "http://127.0.0.1:$PROXY_PORT${VPATH[$1]}"; }
bare_url() { echo "http://127.0.0.1:$BARE_PORT${VPATH[$1]}"; }
bare-w_url() { echo "http://127.0.0.1:$BAREW_PORT${VPATH[$1]}"; }
direct_url() { echo "http://127.0.0.1:$UP_PORT${VPATH[$1]}"; }

# ---- one request each, checked ---------------------------------------------------------------
for v in $VENDORS; do
    for t in $TARGETS; do
        url=$("${t}_url" "$v")
        code=$(curl -s -o "$TMP/check.out" -w '%{http_code}' --max-time 10 \
            -H 'content-type: application/json' --data-binary "@$BENCH/orders/$v.json" "$url") || code=000
        want=2
        if [[ $t == gw* && $code != 201 ]] || [[ $code != $want* ]]; then
            say "$t $v: HTTP $code"
            head -c 2000 "$TMP/check.out" >&2 || true
            say ""
            tail -20 "$TMP/ordergate.log" >&2 || true
            die "the $t request for $v failed"
        fi
    done
done
say "every target answers (ordergate 201 for $VENDORS)"
generation() {
    curl -s -o /dev/null -D - --max-time 5 "http://127.0.0.1:$GW_PORT/healthz" |
        awk 'tolower($1) == "x-ordergate-generation:" {print $2}' | tr -d '\r'
}
GEN_START=$(generation)

# ---- wrk -------------------------------------------------------------------------------------
write_post_lua "$TMP/post.lua"

RESULTS_FILE=${RESULTS:-$TARGET_DIR/load-results.tsv}
printf 'phase\tround\ttarget\tvendor\tconns\trequests\tduration_us\tp50_us\tp99_us\tnon2xx\terrors\tserver_ticks\tupstream_ticks\trss_kb\thwm_kb\tserver_user_ticks\n' >"$RESULTS_FILE"

# run phase round target vendor conns seconds
run() {
    local phase=$1 round=$2 target=$3 v=$4 conns=$5 secs=$6 url session up0 up1 u0 s0 u1 s1 rss out res x
    url=$("${target}_url" "$v")
    case $target in gw) session=$GW ;; gw-b) session=$GWB ;; proxy) session=$PROXY ;; bare) session=$BARE_PID ;; bare-w) session=$BAREW_PID ;; direct) session=$UP ;; esac
    read -r u0 s0 <<<"$(cpu_ticks "$session")"
    read -r up0 x <<<"$(cpu_ticks "$UP")"
    up0=$((up0 + x))
    ORDER_FILE=$BENCH/orders/$v.json timeout $((secs + 30)) taskset -c "$LOAD_CPU" \
        wrk -t1 -c"$conns" -d"${secs}s" --timeout 5s -s "$TMP/post.lua" "$url" >"$TMP/wrk.out" 2>&1 &
    local wrk_pid=$!
    sleep "$(awk -v s="$secs" 'BEGIN {print s * 0.6}')"
    rss=$(rss_kb "$session")
    wait "$wrk_pid" || { cat "$TMP/wrk.out" >&2; die "wrk failed"; }
    read -r u1 s1 <<<"$(cpu_ticks "$session")"
    read -r up1 x <<<"$(cpu_ticks "$UP")"
    up1=$((up1 + x))
    res=$(awk '/^RESULT/ {print $2, $3, $4, $5, $6, $7}' "$TMP/wrk.out")
    [[ -n $res ]] || { cat "$TMP/wrk.out" >&2; die "no wrk result"; }
    read -r req dur p50 p99 non2xx errs <<<"$res"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$phase" "$round" "$target" "$v" \
        "$conns" "$req" "$dur" "$p50" "$p99" "$non2xx" "$errs" $((u1 + s1 - u0 - s0)) $((up1 - up0)) "$rss" \
        "$(hwm_kb "$session")" $((u1 - u0)) >>"$RESULTS_FILE"
    awk -v t="$target" -v v="$v" -v c="$conns" -v r="$req" -v d="$dur" -v p50="$p50" -v p99="$p99" \
        -v st=$((u1 + s1 - u0 - s0)) -v hz="$HZ" -v bad="$non2xx/$errs" \
        'BEGIN { printf "  %-6s %-10s c=%-4d %8.0f req/s  p50 %6.0f us  p99 %6.0f us  %6.1f CPU us/req  non-2xx/errors %s\n",
                 t, v, c, r / (d / 1e6), p50, p99, st * 1e6 / hz / (r > 0 ? r : 1), bad }' >&2
}

say "warm-up"
for v in $VENDORS; do
    for t in $TARGETS; do
        [[ $t == direct ]] || run warmup 0 "$t" "$v" "$CONNS" 1
    done
done

say "throughput: $ROUNDS rounds x ${DURATION}s, $CONNS connections (wrk on cpu $LOAD_CPU, servers on cpu $SERVER_CPU)"
for ((r = 1; r <= ROUNDS; r++)); do
    say "round $r"
    for v in $VENDORS; do
        for t in $TARGETS; do
            run load "$r" "$t" "$v" "$CONNS" "$DURATION"
        done
    done
done

say "latency at one connection: ${LAT_DURATION}s each"
for ((r = 1; r <= ROUNDS; r++)); do
    for v in $VENDORS; do
        for t in $TARGETS; do
            run latency "$r" "$t" "$v" 1 "$LAT_DURATION"
        done
    done
done

GW_IDLE_AFTER=$(rss_kb "$GW")
PROXY_IDLE_AFTER=$(rss_kb "$PROXY")

# ---- memory: open keep-alive connections ---------------------------------------------------
# Opens MEM_CONNS keep-alive connections, sends one create on each, keeps them all open and idle.
cat >"$TMP/hold.py" <<'EOF'
import socket, sys, time
host, port, path, body_file, n, hold = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6])
body = open(body_file, "rb").read()
req = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
       f"Content-Length: {len(body)}\r\n\r\n").encode() + body
socks, ok = [], 0
deadline = time.monotonic() + 60
for i in range(n):
    if time.monotonic() > deadline:
        break
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(req)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    while len(rest) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    if head.split(b" ")[1:2] and head.split(b" ")[1].startswith(b"2"):
        ok += 1
    socks.append(s)
print(f"open {len(socks)} ok {ok}", flush=True)
time.sleep(hold)
EOF

hold_rss() { # target session vendor -> "rss_kb ok"
    local target=$1 session=$2 v=$3 port path
    case $target in gw) port=$GW_PORT path=/v1/connections/$v/orders ;; proxy) port=$PROXY_PORT path=${VPATH[$v]} ;; esac
    timeout 90 taskset -c "$LOAD_CPU" python3 "$TMP/hold.py" 127.0.0.1 "$port" "$path" \
        "$BENCH/orders/$v.json" "$MEM_CONNS" 3 >"$TMP/hold.out" 2>&1 &
    local hp=$! i
    for ((i = 0; i < 700; i++)); do
        grep -q '^open' "$TMP/hold.out" 2>/dev/null && break
        kill -0 "$hp" 2>/dev/null || break
        sleep 0.1
    done
    sleep 1
    local rss
    rss=$(rss_kb "$session")
    wait "$hp" || true
    echo "$rss $(awk '/^open/ {print $2 "/" $4}' "$TMP/hold.out")"
}

say "memory: $MEM_CONNS idle keep-alive connections, then $MEM_CONNS busy ones (wrk, ${MEM_DURATION}s)"
read -r GW_HOLD_RSS GW_HOLD_N <<<"$(hold_rss gw "$GW" dokos)"
read -r PROXY_HOLD_RSS PROXY_HOLD_N <<<"$(hold_rss proxy "$PROXY" dokos)"
run memory 1 gw dokos "$MEM_CONNS" "$MEM_DURATION"
run memory 1 proxy dokos "$MEM_CONNS" "$MEM_DURATION"
sleep 1
GW_IDLE_END=$(rss_kb "$GW")
GEN_END=$(generation)
[[ $GEN_END == "$GEN_START" ]] || say "warning: ordergate reloaded its configuration during the run ($GEN_START -> $GEN_END)"

# ---- summary ---------------------------------------------------------------------------------
python3 - "$RESULTS_FILE" "$HZ" <<EOF
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
hz = int(sys.argv[2])
def cpu(r): return int(r["server_ticks"]) * 1e6 / hz / max(int(r["requests"]), 1)
def rps(r): return int(r["requests"]) / (int(r["duration_us"]) / 1e6)
def agg(phase, target, vendor):
    rs = [r for r in rows if r["phase"] == phase and r["target"] == target and r["vendor"] == vendor]
    if not rs: return None
    req = sum(int(r["requests"]) for r in rs)
    return {
        "rps": statistics.median(rps(r) for r in rs),
        "p50": statistics.median(int(r["p50_us"]) for r in rs),
        "p99": statistics.median(int(r["p99_us"]) for r in rs),
        "cpu": sum(int(r["server_ticks"]) for r in rs) * 1e6 / hz / max(req, 1),
        "cpus": [cpu(r) for r in rs],
        "user": sum(int(r["server_user_ticks"]) for r in rs) * 1e6 / hz / max(req, 1),
        "up": sum(int(r["upstream_ticks"]) for r in rs) * 1e6 / hz / max(req, 1),
        "rss": max(int(r["rss_kb"]) for r in rs),
        "bad": sum(int(r["non2xx"]) + int(r["errors"]) for r in rs),
    }
vendors = "$VENDORS".split()
print()
print("Throughput, $CONNS connections, $ROUNDS rounds x ${DURATION}s (median req/s and latency; CPU = all rounds' CPU / all requests)")
print(f"{'target':8} {'vendor':10} {'req/s':>8} {'p50 us':>7} {'p99 us':>7} {'CPU us/req':>10} {'user+sys':>11} {'per round':>22} {'upstream us/req':>15} {'RSS MB':>7} {'bad':>4}")
for v in vendors:
    for t in ("gw", "gw-b", "proxy", "bare", "bare-w", "direct"):
        a = agg("load", t, v)
        if a:
            per = " ".join(f"{c:.1f}" for c in a["cpus"])
            split = f"{a['user']:.1f}+{a['cpu'] - a['user']:.1f}"
            print(f"{t:8} {v:10} {a['rps']:8.0f} {a['p50']:7.0f} {a['p99']:7.0f} {a['cpu']:10.1f} {split:>11} {per:>22} {a['up']:15.1f} {a['rss']/1024:7.1f} {a['bad']:4d}")
print()
print("Ratios, ordergate / nginx plain proxy (same run); bare = the bare hyper proxy / nginx")
print(f"{'gateway':8} {'vendor':10} {'CPU/req':>8} {'per round':>22} {'req/s':>7} {'target':>7} {'bare CPU':>9} {'gw - bare us':>13}")
for v in vendors:
    for gw in ("gw", "gw-b"):
        g, p, b = agg("load", gw, v), agg("load", "proxy", v), agg("load", "bare", v)
        if not (g and p): continue
        gr = [r for r in rows if r["phase"] == "load" and r["target"] == gw and r["vendor"] == v]
        pr = [r for r in rows if r["phase"] == "load" and r["target"] == "proxy" and r["vendor"] == v]
        per = " ".join(f"{cpu(a) / cpu(b):.2f}" for a, b in zip(gr, pr))
        goal = 1.75 if v == "dokos" else 2.0
        bare = f"{b['cpu'] / p['cpu']:9.2f} {g['cpu'] - b['cpu']:13.1f}" if b else ""
        print(f"{gw:8} {v:10} {g['cpu'] / p['cpu']:8.2f} {per:>22} {g['rps'] / p['rps']:7.2f} {'<= ' + str(goal):>7} {bare}")
if "$BARE_WORK":
    print()
    print("Calibration: bare-w, the bare proxy with $BARE_WORK thousand rounds of arithmetic a request, over the bare proxy")
    print(f"{'vendor':10} {'own CPU +us':>11} {'kernel +us':>10} {'kernel per own':>14} {'bare-w / nginx':>14}")
    for v in vendors:
        b, w, p = agg("load", "bare", v), agg("load", "bare-w", v), agg("load", "proxy", v)
        if b and w and p:
            du, ds = w["user"] - b["user"], (w["cpu"] - w["user"]) - (b["cpu"] - b["user"])
            per = f"{ds / du:14.2f}" if du > 0 else f"{'-':>14}"
            print(f"{v:10} {du:11.1f} {ds:10.1f} {per} {w['cpu'] / p['cpu']:14.2f}")
if "$COMPARE_BIN":
    print()
    print("gw-b ($COMPARE_BIN) / gw ($BIN), CPU per request, same rounds")
    for v in vendors:
        a, b = agg("load", "gw", v), agg("load", "gw-b", v)
        if a and b:
            print(f"  {v:10} {b['cpu'] / a['cpu']:.3f}")
print()
print("Latency at one connection (median of rounds' p50, us); added = over direct-to-upstream")
print(f"{'vendor':10} {'direct':>7} {'proxy':>7} {'bare':>7} {'gw':>7} {'proxy added':>12} {'bare added':>11} {'gw added':>9} {'gw-b added':>10}")
for v in vendors:
    d, p, b, g, gb = (agg("latency", t, v) for t in ("direct", "proxy", "bare", "gw", "gw-b"))
    if d and p and b and g:
        extra = f" {gb['p50'] - d['p50']:10.0f}" if gb else ""
        print(f"{v:10} {d['p50']:7.0f} {p['p50']:7.0f} {b['p50']:7.0f} {g['p50']:7.0f} {p['p50'] - d['p50']:12.0f} {b['p50'] - d['p50']:11.0f} {g['p50'] - d['p50']:9.0f}{extra}")
print()
print("Memory (RSS, MB; nginx = master + worker)")
print(f"  ordergate idle at start {int('$GW_IDLE_RSS')/1024:.1f}, idle after the runs {int('$GW_IDLE_AFTER')/1024:.1f}, "
      f"{int('$MEM_CONNS')} idle keep-alive connections ({'$GW_HOLD_N'} answered) {int('$GW_HOLD_RSS')/1024:.1f}")
print(f"  nginx proxy idle at start {int('$PROXY_IDLE_RSS')/1024:.1f}, idle after the runs {int('$PROXY_IDLE_AFTER')/1024:.1f}, "
      f"{int('$MEM_CONNS')} idle keep-alive connections ({'$PROXY_HOLD_N'} answered) {int('$PROXY_HOLD_RSS')/1024:.1f}")
for t in ("gw", "proxy"):
    m = [r for r in rows if r["phase"] == "memory" and r["target"] == t]
    if m:
        r = m[0]
        print(f"  {t:5} under wrk -c {r['conns']}: RSS {int(r['rss_kb'])/1024:.1f} (peak {int(r['hwm_kb'])/1024:.1f}), "
              f"{rps(r):.0f} req/s, p99 {int(r['p99_us'])/1000:.1f} ms, non-2xx/errors {r['non2xx']}/{r['errors']}")
print(f"  ordergate idle at the end {int('$GW_IDLE_END')/1024:.1f}; upstream nginx idle {int('$UP_IDLE_RSS')/1024:.1f}; bare proxy idle {int('$BARE_IDLE_RSS')/1024:.1f}")
EOF
say "raw figures: $RESULTS_FILE"

# ---- optional: where the gateway's CPU goes (perf, software clock sampling) ------------------
if [[ -n ${PERF:-} ]]; then
    command -v perf >/dev/null || die "PERF is set but perf is missing"
    say "profiling ordergate (dokos, $CONNS connections, ${DURATION}s) into $PERF"
    ORDER_FILE=$BENCH/orders/dokos.json timeout $((DURATION + 30)) taskset -c "$LOAD_CPU" \
        wrk -t1 -c"$CONNS" -d"$((DURATION + 2))s" -s "$TMP/post.lua" "$(gw_url dokos)" >/dev/null 2>&1 &
    wp=$!
    sleep 1
    timeout $((DURATION + 30)) perf record -q -e cpu-clock -F 1999 --call-graph dwarf,32768 -p "$GW" -o "$PERF" -- sleep "$DURATION" 2>/dev/null || true
    wait "$wp" || true
    perf report -i "$PERF" --no-children --sort dso,symbol --stdio 2>/dev/null | grep -v '^#' | grep '%' | head -40 || true
fi
