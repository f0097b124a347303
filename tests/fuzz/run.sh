#!/bin/sh
# Runs every libFuzzer target in build-fuzz/fuzz/ for $1 seconds (default 60) from its seed corpus in
# tests/fuzz/corpus/NAME/ (new inputs go to build-fuzz/corpus/NAME/, never into the tree). Any finding stops
# that target: the input is saved as build-fuzz/artifacts/NAME-*, its log tail printed, and the script fails.
# Prints and writes build-fuzz/fuzz-summary.txt: executions per target.
secs=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/build-fuzz"
mkdir -p "$out/artifacts" "$out/logs"
summary="$out/fuzz-summary.txt"
: > "$summary"
failed=""
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:allocator_may_return_null=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0"
export OPENBLAS_NUM_THREADS=1
[ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ] && export TMPDIR=/dev/shm   # the targets write their inputs to files
cd "$root" || exit 1
for bin in "$out"/fuzz/*; do
    name=$(basename "$bin")
    seeds="tests/fuzz/corpus/$name"
    work="$out/corpus/$name"
    log="$out/logs/$name.log"
    mkdir -p "$work"
    [ -d "$seeds" ] || { echo "fuzz: $name has no seed corpus in $seeds" >&2; failed="$failed $name"; continue; }
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$out/artifacts/$name-" "$work" "$seeds" > "$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    line=$(printf '%-14s %10s executions in %ss (%s, %s inputs in the corpus)' "$name" "${execs:-?}" "$secs" \
        "${cov:-cov: ?}" "$(ls "$work" | wc -l)")
    if [ $rc -ne 0 ]; then
        line="$line  FAILED (exit $rc)"
        failed="$failed $name"
        echo "---- $name: last lines of $log" >&2
        tail -40 "$log" >&2
    fi
    echo "$line" | tee -a "$summary"
done
if [ -n "$failed" ]; then
    echo "fuzz: findings in:$failed (inputs in build-fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz: no findings ($(awk '{s += $2} END {print s}' "$summary") executions in all)"
