#!/usr/bin/env bash
# Storage-engine benchmarks for logship, with same-run baselines.
#
# For each repetition this runs, in order:
#   1. dd baseline:  dd if=/dev/zero of=FILE bs=1M count=1024 conv=fdatasync
#   2. cat baseline: cat FILE > /dev/null on that (page-cache warm) file
#      (plus, for context only, the latency of 16 KiB O_DSYNC writes:
#      dd bs=16k count=500 oflag=dsync)
#   3. logship-bench append, 1 KiB records, {16 KiB, 1 MiB} batches x
#      {1, 8} appenders x {always, os} flush
#   4. logship-bench read of the 1 MiB-batch, 8-appender, flush=always data
#   5. logship-bench startup with 1000 partitions
# and then prints medians across repetitions. Append figures are reported as
# a ratio to the dd figure of the same repetition, reads as a ratio to the
# cat figure of the same repetition (median of the per-repetition ratios).
#
# Environment:
#   REPS=5            repetitions
#   TOTAL_MIB=1024    MiB appended per append run
#   QUICK=1           smoke test: REPS=1, TOTAL_MIB=64
#   FSYNC_COUNTS=1    after the timed runs, count fdatasync calls for the
#                     flush=always runs under strace (untimed; 0 disables;
#                     skipped if strace is missing). Uses min(TOTAL_MIB, 256).
#   TMPDIR            where scratch files go (default /tmp). Every file is
#                     removed as soon as it has been measured, and on exit.
#   KEEP_RAW=FILE     also keep the raw result lines in FILE
#   BIN_DIR=DIR       use DIR/logship-bench instead of building one
#   DD_MIB=1024       size of the dd/cat baseline file
set -euo pipefail
export LC_ALL=C

if [[ "${QUICK:-0}" == 1 ]]; then
    REPS=${REPS:-1}
    TOTAL_MIB=${TOTAL_MIB:-64}
fi
REPS=${REPS:-5}
TOTAL_MIB=${TOTAL_MIB:-1024}
FSYNC_COUNTS=${FSYNC_COUNTS:-1}
RECORD_BYTES=1024
DD_MIB=${DD_MIB:-1024} # the issue's baseline is 1 GiB; smaller only for smoke runs
DSYNC_COUNT=500

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

need() { command -v "$1" >/dev/null || { echo "storage.sh: needs $1" >&2; exit 1; }; }
need cargo
need dd
need python3

if [[ -n "${BIN_DIR:-}" ]]; then
    bench="$(cd "$BIN_DIR" && pwd)/logship-bench"
else
    echo "== building release harness" >&2
    cargo build --release --quiet --bin logship-bench
    target_dir=$(cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    bench="$target_dir/release/logship-bench"
fi
[[ -x "$bench" ]] || { echo "storage.sh: $bench not built" >&2; exit 1; }

scratch=$(mktemp -d "${TMPDIR:-/tmp}/logship-bench.XXXXXX")
raw=$(mktemp "${TMPDIR:-/tmp}/logship-bench-raw.XXXXXX")
cleanup() { rm -rf "$scratch" "$raw"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

avail_mib=$(df -Pm "$scratch" | awk 'NR==2 {print $4}')
want_mib=$(( (DD_MIB > TOTAL_MIB ? DD_MIB : TOTAL_MIB) * 2 + 512 ))
if (( avail_mib < want_mib )); then
    echo "storage.sh: only ${avail_mib} MiB free under $scratch, want ${want_mib}" >&2
    exit 1
fi

now_ns() { date +%s%N; }

# Prints "<bytes> <secs>" from dd's summary line. Extra arguments replace
# the default "bs=1M count=$DD_MIB conv=fdatasync".
dd_baseline() {
    local file=$1 out
    shift
    (($#)) || set -- bs=1M count="$DD_MIB" conv=fdatasync
    out=$(dd if=/dev/zero of="$file" "$@" 2>&1)
    python3 - "$out" <<'EOF'
import re, sys
m = re.search(r"^(\d+) bytes .* copied, ([0-9.]+) s", sys.argv[1], re.M)
if not m:
    sys.exit("cannot parse dd output: " + sys.argv[1])
print(m.group(1), m.group(2))
EOF
}

# Prints "<bytes> <secs>" for one page-cache cat of a warmed file.
cat_baseline() {
    local file=$1 t0 t1
    cat "$file" >/dev/null # warm the page cache
    t0=$(now_ns)
    cat "$file" >/dev/null
    t1=$(now_ns)
    echo "$(stat -c %s "$file") $(python3 -c "print(($t1 - $t0) / 1e9)")"
}

echo "== REPS=$REPS TOTAL_MIB=$TOTAL_MIB record_bytes=$RECORD_BYTES dd=${DD_MIB}MiB scratch=$scratch" >&2
for rep in $(seq 1 "$REPS"); do
    echo "== repetition $rep/$REPS" >&2
    file="$scratch/dd.bin"
    out=$(dd_baseline "$file")
    read -r bytes secs <<<"$out"
    echo "rep=$rep kind=dd bytes=$bytes secs=$secs" | tee -a "$raw" >&2
    out=$(cat_baseline "$file")
    read -r bytes secs <<<"$out"
    echo "rep=$rep kind=cat bytes=$bytes secs=$secs" | tee -a "$raw" >&2
    rm -f "$file"
    # Not a target: the latency of one small synchronous write, to show how
    # contended fsync was during this repetition.
    out=$(dd_baseline "$scratch/dsync.bin" bs=16k count="$DSYNC_COUNT" oflag=dsync)
    read -r bytes secs <<<"$out"
    echo "rep=$rep kind=dsync bytes=$bytes secs=$secs count=$DSYNC_COUNT" | tee -a "$raw" >&2
    rm -f "$scratch/dsync.bin"

    for flush in always os; do
        for batch in 16384 1048576; do
            for appenders in 1 8; do
                dir="$scratch/append"
                rm -rf "$dir"
                line=$("$bench" append --dir "$dir" --appenders "$appenders" \
                    --batch-bytes "$batch" --record-bytes "$RECORD_BYTES" \
                    --total-mib "$TOTAL_MIB" --flush "$flush")
                echo "rep=$rep kind=append batch=$batch $line" | tee -a "$raw" >&2
                if [[ $flush == always && $batch == 1048576 && $appenders == 8 ]]; then
                    line=$("$bench" read --dir "$dir")
                    echo "rep=$rep kind=read batch=$batch $line" | tee -a "$raw" >&2
                fi
                rm -rf "$dir"
            done
        done
    done

    dir="$scratch/startup"
    rm -rf "$dir"
    line=$("$bench" startup --dir "$dir" --partitions 1000)
    echo "rep=$rep kind=startup $line" | tee -a "$raw" >&2
    rm -rf "$dir"
done

if [[ $FSYNC_COUNTS == 1 ]] && command -v strace >/dev/null; then
    count_mib=$(( TOTAL_MIB < 256 ? TOTAL_MIB : 256 ))
    echo "== fdatasync counts (strace, untimed, ${count_mib} MiB per run)" >&2
    for batch in 16384 1048576; do
        for appenders in 1 8; do
            dir="$scratch/append"
            rm -rf "$dir"
            trace="$scratch/strace.out"
            line=$(strace -f -qq -c -o "$trace" -e trace=fdatasync,fsync \
                "$bench" append --dir "$dir" --appenders "$appenders" \
                --batch-bytes "$batch" --record-bytes "$RECORD_BYTES" \
                --total-mib "$count_mib" --flush always)
            fdatasyncs=$(awk '$NF == "fdatasync" {print $4}' "$trace")
            echo "kind=fsyncs batch=$batch fdatasyncs=${fdatasyncs:-0} $line" | tee -a "$raw" >&2
            rm -rf "$dir" "$trace"
        done
    done
fi

[[ -n "${KEEP_RAW:-}" ]] && cp "$raw" "$KEEP_RAW"

python3 - "$raw" <<'EOF'
import statistics, sys
from collections import defaultdict

rows = []
for line in open(sys.argv[1]):
    kv = dict(f.split("=", 1) for f in line.split() if "=" in f)
    if kv:
        rows.append(kv)

dd = {r["rep"]: int(r["bytes"]) / float(r["secs"]) / 1e6 for r in rows if r["kind"] == "dd"}
cat = {r["rep"]: int(r["bytes"]) / float(r["secs"]) / 1e6 for r in rows if r["kind"] == "cat"}
med = statistics.median

def fmt_mbps(v):
    return f"{v:,.0f}"

print()
print(f"repetitions: {len(dd)}; medians across repetitions; MB = 10^6 bytes")
print()
def rng(vs):
    return f"{fmt_mbps(min(vs))}-{fmt_mbps(max(vs))}"

print("| benchmark | median MB/s | min-max MB/s | median ratio | baseline | target | result |")
print("|---|---:|---:|---:|---|---|---|")
print(f"| dd 1 GiB conv=fdatasync | {fmt_mbps(med(dd.values()))} | {rng(dd.values())} | 1.00 | - | - | - |")
print(f"| cat 1 GiB (page cache) | {fmt_mbps(med(cat.values()))} | {rng(cat.values())} | 1.00 | - | - | - |")

failed = []
def verdict(name, ok):
    if ok is None:
        return "-"
    if not ok:
        failed.append(name)
    return "PASS" if ok else "FAIL"

dsync = [float(r["secs"]) / int(r["count"]) * 1e3 for r in rows if r["kind"] == "dsync"]
if dsync:
    print(f"| sync-write latency: dd bs=16k oflag=dsync (ms per write, not a target) | {med(dsync):.2f} ms | {min(dsync):.2f}-{max(dsync):.2f} ms | - | - | - | - |")

groups = defaultdict(list)
for r in rows:
    if r["kind"] == "append":
        key = (r["flush"], int(r["batch"]), int(r["appenders"]))
        mbps = float(r["MBps"])
        groups[key].append((mbps, mbps / dd[r["rep"]]))

order = [(f, b, a) for f in ("always", "os") for b in (16384, 1048576) for a in (1, 8)]
for key in order:
    if key not in groups:
        continue
    flush, batch, appenders = key
    mbps = med(v for v, _ in groups[key])
    ratio = med(x for _, x in groups[key])
    label = f"append flush={flush} batch={'16 KiB' if batch == 16384 else '1 MiB'} appenders={appenders}"
    target, ok = "-", None
    if flush == "always" and appenders == 8 and batch == 1048576:
        target, ok = ">= 0.70 x dd", ratio >= 0.70
    elif flush == "always" and appenders == 8 and batch == 16384:
        target, ok = ">= 100 MB/s", mbps >= 100
    vs = [v for v, _ in groups[key]]
    print(f"| {label} | {fmt_mbps(mbps)} | {rng(vs)} | {ratio:.2f} | dd | {target} | {verdict(label, ok)} |")

reads = [(float(r["MBps"]), float(r["MBps"]) / cat[r["rep"]]) for r in rows if r["kind"] == "read"]
if reads:
    mbps = med(v for v, _ in reads)
    ratio = med(x for _, x in reads)
    label = "read sequential (1 MiB batches, page cache)"
    print(f"| {label} | {fmt_mbps(mbps)} | {rng([v for v, _ in reads])} | {ratio:.2f} | cat | >= 1,000 MB/s | {verdict(label, mbps >= 1000)} |")

starts = [float(r["clean_open_secs"]) for r in rows if r["kind"] == "startup"]
if starts:
    s = med(starts)
    label = "startup 1000 partitions, clean"
    print(f"| {label} | {s:.3f} s | {min(starts):.3f}-{max(starts):.3f} s | - | - | < 1 s | {verdict(label, s < 1.0)} |")

appended = [int(r["bytes"]) for r in rows if r["kind"] == "append"]
if appended and max(appended) > 1 << 30:
    print()
    print("note: runs appended more than segment.bytes (default 1 GiB), so each rolled")
    print("once; the roll fsyncs the full segment inside the timed window (this mostly")
    print("affects flush=os). TOTAL_MIB=1000 stays within one segment.")

fs = [r for r in rows if r["kind"] == "fsyncs"]
if fs:
    print()
    print("fdatasync calls, flush=always (one run under strace, not timed):")
    print()
    print("(fdatasyncs include the few of the clean close and of a segment roll)")
    print()
    print("| batch | appenders | appends | fdatasyncs | appends per fdatasync |")
    print("|---|---:|---:|---:|---:|")
    for r in fs:
        appends = round(int(r["bytes"]) / int(r["batch_bytes"]))
        n = int(r["fdatasyncs"])
        label = "16 KiB" if int(r["batch"]) == 16384 else "1 MiB"
        print(f"| {label} | {r['appenders']} | {appends} | {n} | {appends / max(n, 1):.1f} |")

print()
print("per-repetition raw lines:")
for line in open(sys.argv[1]):
    print("  " + line.rstrip())
print()
print("all targets met" if not failed else "targets missed: " + "; ".join(failed))
EOF
