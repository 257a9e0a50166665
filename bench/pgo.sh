#!/usr/bin/env bash
# A profile-guided (PGO) release build of ordergate: the same source and release profile, laid
# out by the compiler from counts of a training run. See BENCHMARKS.md, step 13.
#
#   bench/pgo.sh                 # -> target/pgo/release/ordergate
#   ORDERGATE_BIN=target/pgo/release/ordergate COMPARE_BIN=target/release/ordergate BUILD=0 \
#       bench/load.sh            # it against the plain release build, same rounds
#
# 1. builds an instrumented binary (-Cprofile-generate) in target/pgo-gen;
# 2. trains it: `ordergate test mappings/` (every seed mapping's golden fixtures: every
#    operation rendered, every recorded answer and error read), then the gateway serving
#    canonical creates for a JSON (Dokos), an XML (Mr.Doc XML) and a form (Valomnia) vendor on
#    an nginx stand-in ERP (bench/rig.sh), TRAIN_SECS (5) seconds each with wrk, and a stop by
#    SIGTERM (the counts are written when the process exits), once on one thread
#    (ORDERGATE_WORKERS=1) and once with the default worker per CPU;
#    then starts it once more and stops it with no request (the code a start runs);
# 3. merges the counts with the toolchain's llvm-profdata (rustup component llvm-tools,
#    installed when missing), and orders the functions for the linker (bench/link-order.py:
#    the request path, then the start's code, each in one run of pages);
# 4. builds target/pgo/release/ordergate with -Cprofile-use and that order (lld's
#    --symbol-ordering-file; lld is rustc's default linker on x86-64 Linux, elsewhere the order
#    is left out; the counts and the order are kept in target/pgo/ordergate.profdata and
#    target/pgo/ordergate.order) and checks it passes the golden fixtures.
# Instrumented counts go stale as the code changes: the script trains again at every build.
# Environment: TRAIN_SECS (5), CARGO_TARGET_DIR (target).
set -euo pipefail
TRAIN_SECS=${TRAIN_SECS:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
die() {
    echo "pgo.sh: $*" >&2
    exit 1
}
say() { printf '%s\n' "$*" >&2; }
[[ $TRAIN_SECS =~ ^[0-9]+$ && $TRAIN_SECS -gt 0 ]] || die "TRAIN_SECS must be a positive integer"
for t in wrk python3 rustup rustc; do
    command -v "$t" >/dev/null || die "$t is missing (apt-get install wrk)"
done
# shellcheck source=bench/rig.sh
source "$BENCH/rig.sh"
find_nginx

SYSROOT=$(rustc --print sysroot)
HOST=$(rustc -vV | awk '/^host:/ {print $2}')
PROFDATA=$SYSROOT/lib/rustlib/$HOST/bin/llvm-profdata
if [[ ! -x $PROFDATA ]]; then
    say "installing the llvm-tools component (llvm-profdata)"
    rustup component add llvm-tools >&2
fi
[[ -x $PROFDATA ]] || die "no llvm-profdata at $PROFDATA"

scratch pgo

# ---- 1. the instrumented binary --------------------------------------------------------------
# With --target, RUSTFLAGS reach the binary only, not the build scripts and proc macros (which
# would write counts of their own while the build runs).
GEN_DIR=$TARGET_DIR/pgo-gen
COUNTS=$GEN_DIR/counts
say "building the instrumented binary in $GEN_DIR"
(cd "$ROOT" && RUSTFLAGS="-Cprofile-generate=$COUNTS" \
    cargo build --release --locked --quiet --bin ordergate --target "$HOST" --target-dir "$GEN_DIR")
GEN_BIN=$GEN_DIR/$HOST/release/ordergate
rm -rf "$COUNTS"

# ---- 2. training -----------------------------------------------------------------------------
say "training: the golden fixtures"
(cd "$ROOT" && "$GEN_BIN" test mappings/ >"$TMP/fixtures.out") || {
    cat "$TMP/fixtures.out" >&2
    die "the golden fixtures failed"
}
tail -1 "$TMP/fixtures.out" >&2

# Starts the instrumented gateway on the rig's config and free ports (GW, GW_PID); the
# arguments after the log are environment assignments (where its counts go, say).
serve_instrumented() { # log, NAME=VALUE...
    local log=$1
    shift
    GW=$(free_port)
    env "$@" ORDERGATE_LOG=info "$GEN_BIN" serve --config "$TMP/gw/ordergate.yaml" \
        --listen "127.0.0.1:$GW" --admin "127.0.0.1:$(free_port)" >"$log" 2>&1 &
    GW_PID=$!
    PIDS+=("$GW_PID")
    wait_port "$GW"
}
# Stops it by SIGTERM: the counts are written as it exits.
stop_instrumented() {
    kill -TERM "$GW_PID"
    wait "$GW_PID" || die "the instrumented gateway did not stop cleanly"
}

start_upstream
write_post_lua "$TMP/post.lua"
# Both of the runtime's schedulers (src/server/runtime.rs): one thread, as on one core or a
# sidecar with ORDERGATE_WORKERS=1, then one worker per CPU, the default elsewhere.
for workers in 1 default; do
    if [[ $workers == 1 ]]; then
        serve_instrumented "$TMP/gw.log" ORDERGATE_WORKERS=1
    else
        serve_instrumented "$TMP/gw.log"
    fi
    for v in dokos mrdoc-xml valomnia; do
        ORDER_FILE=$BENCH/orders/$v.json wrk -t1 -c8 -d"${TRAIN_SECS}s" -s "$TMP/post.lua" \
            "http://127.0.0.1:$GW/v1/connections/$v/orders" >"$TMP/wrk.out"
        requests=$(wrk_requests "$TMP/wrk.out" "$TMP/gw.log")
        say "training ($workers workers): $requests $v creates"
    done
    stop_instrumented
done

say "training: a start with no request"
START_COUNTS=$GEN_DIR/start-counts
rm -rf "$START_COUNTS"
serve_instrumented "$TMP/gw-start.log" "LLVM_PROFILE_FILE=$START_COUNTS/start-%p.profraw"
sleep 1
stop_instrumented

# ---- 3. the counts merged --------------------------------------------------------------------
compgen -G "$COUNTS/*.profraw" >/dev/null || die "the training wrote no counts in $COUNTS"
"$PROFDATA" merge -o "$TMP/merged.profdata" "$COUNTS"
mkdir -p "$TARGET_DIR/pgo"
cp "$TMP/merged.profdata" "$TARGET_DIR/pgo/ordergate.profdata"
compgen -G "$START_COUNTS/*.profraw" >/dev/null || die "the start wrote no counts in $START_COUNTS"
"$PROFDATA" merge -o "$TMP/start.profdata" "$START_COUNTS"
ORDER=$TARGET_DIR/pgo/ordergate.order
python3 "$BENCH/link-order.py" "$PROFDATA" "$TARGET_DIR/pgo/ordergate.profdata" \
    "$TMP/start.profdata" >"$ORDER"
# lld takes the order; it is rustc's default linker on x86-64 Linux only, and the GNU linker
# other hosts use has no such option: there the binary keeps the linker's own order.
LINK_ORDER=""
if [[ $HOST == x86_64-unknown-linux-gnu ]]; then
    LINK_ORDER="-Clink-arg=-Wl,--symbol-ordering-file=$ORDER -Clink-arg=-Wl,--no-warn-symbol-ordering"
else
    say "$HOST: no link order (lld is not the default linker here)"
fi

# ---- 4. the optimized binary -----------------------------------------------------------------
say "building target/pgo/release/ordergate with the counts"
(cd "$ROOT" && RUSTFLAGS="-Cprofile-use=$TARGET_DIR/pgo/ordergate.profdata $LINK_ORDER" \
    cargo build --release --locked --quiet --bin ordergate --target "$HOST" --target-dir "$TARGET_DIR/pgo")
mkdir -p "$TARGET_DIR/pgo/release"
cp "$TARGET_DIR/pgo/$HOST/release/ordergate" "$TARGET_DIR/pgo/release/ordergate"
# The optimized binary passes the golden fixtures as the plain one does.
(cd "$ROOT" && "$TARGET_DIR/pgo/release/ordergate" test mappings/ >"$TMP/fixtures.out") || {
    cat "$TMP/fixtures.out" >&2
    die "the optimized binary fails the golden fixtures"
}
say "built $TARGET_DIR/pgo/release/ordergate ($(tail -1 "$TMP/fixtures.out"))"
