#!/usr/bin/env bash
# Builds the fuzz targets and runs each for FUZZ_SECONDS (default 60), starting from the seed
# corpus (fuzz/corpus/<target>/) and the checked-in crashes (fuzz/regressions/<target>/).
# Fails when any target crashes (a panic, an abort, a leak, a timeout or running out of memory);
# the crashing input is left in fuzz/artifacts/<target>/. Ends with `N passed, N failed`.
#
#   fuzz/run.sh                    every target, FUZZ_SECONDS each
#   FUZZ_SECONDS=3600 fuzz/run.sh  the long run
#   fuzz/run.sh decode_xml         only the named targets
#
# Environment: FUZZ_SECONDS (per target, default 60), FUZZ_SANITIZER (address, the default, or
# none: faster, catches panics only), FUZZ_TIMEOUT (seconds one input may take, default 20),
# FUZZ_RSS_MB (memory limit, default 2048), FUZZ_JOBS (parallel fuzzing processes per target,
# default 1). The stable toolchain is used with RUSTC_BOOTSTRAP=1 for cargo-fuzz's -Z flags.
set -uo pipefail

cd "$(dirname "$0")"
FUZZ_DIR=$(pwd)
SECONDS_EACH=${FUZZ_SECONDS:-60}
SANITIZER=${FUZZ_SANITIZER:-address}
TIMEOUT=${FUZZ_TIMEOUT:-20}
RSS_MB=${FUZZ_RSS_MB:-2048}
JOBS=${FUZZ_JOBS:-1}
export RUSTC_BOOTSTRAP=1
# As `cargo fuzz run` sets it.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked || { echo "fuzz: cannot install cargo-fuzz"; exit 1; }
fi

# The same flags for the build and every run, so that `cargo fuzz run` does not rebuild.
FLAGS=(--release --debug-assertions --sanitizer "$SANITIZER")

if [ $# -gt 0 ]; then
    TARGETS=("$@")
else
    mapfile -t TARGETS < <(cargo fuzz list)
fi

echo "fuzz: building ${#TARGETS[@]} targets (sanitizer $SANITIZER)"
build_start=$(date +%s)
if ! cargo fuzz build "${FLAGS[@]}"; then
    echo "fuzz: the build failed"
    echo "0 passed, ${#TARGETS[@]} failed"
    exit 1
fi
echo "fuzz: built in $(( $(date +%s) - build_start )) s"
# The targets run straight from the build: `cargo fuzz run` would check (and maybe redo) the
# build before every target.
BIN=$FUZZ_DIR/target/$(rustc -vV | sed -n 's/^host: //p')/release

LOGS=$FUZZ_DIR/target/fuzz-logs
mkdir -p "$LOGS"
passed=0
failed=0
failed_names=()
summary=()
for t in "${TARGETS[@]}"; do
    # New inputs go to a work corpus kept under target/ (not checked in); the seeds and the
    # regressions are read only.
    work=$FUZZ_DIR/target/fuzz-corpus/$t
    mkdir -p "$work" "$FUZZ_DIR/artifacts/$t"
    dirs=("$work")
    [ -d "$FUZZ_DIR/corpus/$t" ] && dirs+=("$FUZZ_DIR/corpus/$t")
    if [ -d "$FUZZ_DIR/regressions/$t" ]; then
        # The checked-in crashes, less the open ones (regressions/OPEN), which would stop the
        # run at once.
        reg=$FUZZ_DIR/target/fuzz-regressions/$t
        rm -rf "$reg" && mkdir -p "$reg"
        for f in "$FUZZ_DIR/regressions/$t"/*; do
            [ -f "$f" ] || continue
            grep -qxF "$t/$(basename "$f")" "$FUZZ_DIR/regressions/OPEN" 2>/dev/null && continue
            cp "$f" "$reg/"
        done
        dirs+=("$reg")
    fi
    extra=()
    [ -f "$FUZZ_DIR/dicts/$t.dict" ] && extra+=("-dict=$FUZZ_DIR/dicts/$t.dict")
    [ "$JOBS" -gt 1 ] && extra+=("-fork=$JOBS")
    echo "fuzz: $t for ${SECONDS_EACH}s"
    log=$LOGS/$t.log
    if [ ! -x "$BIN/$t" ]; then
        echo "fuzz: no target $t"
        failed=$((failed + 1)); failed_names+=("$t"); summary+=("MISSING $t")
        continue
    fi
    "$BIN/$t" "${dirs[@]}" \
        -max_total_time="$SECONDS_EACH" -timeout="$TIMEOUT" -rss_limit_mb="$RSS_MB" \
        -print_final_stats=1 -artifact_prefix="$FUZZ_DIR/artifacts/$t/" "${extra[@]}" \
        >"$log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1)
    corpus=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -1)
    line="$t: ${execs:-?} execs, ${speed:-?}/s, ${cov:-cov: ?}, ${corpus:-corp: ?}"
    if [ $rc -eq 0 ]; then
        passed=$((passed + 1))
        summary+=("ok    $line")
    else
        failed=$((failed + 1))
        failed_names+=("$t")
        summary+=("CRASH $line (exit $rc)")
        echo "fuzz: $t crashed; the end of its log ($log):"
        grep -v '^#[0-9]' "$log" | tail -60
        ls -1 "$FUZZ_DIR/artifacts/$t/" 2>/dev/null | sed "s|^|fuzz: artifact fuzz/artifacts/$t/|"
    fi
done

echo
printf '%s\n' "${summary[@]}"
if [ $failed -gt 0 ]; then
    echo "fuzz: crashed: ${failed_names[*]}. Reproduce with"
    echo "  RUSTC_BOOTSTRAP=1 cargo fuzz run ${FLAGS[*]} <target> fuzz/artifacts/<target>/<file>"
    echo "and make it a regression test as fuzz/README.md says."
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
