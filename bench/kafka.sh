#!/usr/bin/env bash
# Whole-pipeline Kafka benchmark: a release collector (default durability:
# group-commit fsync, acks=all) loaded by logship-bench's rdkafka producer and
# consumer on the same machine. Prints medians over REPS runs, the collector's
# peak RSS, and the storage engine's 1 MiB-batch append bandwidth measured in
# the same run as the baseline for 1 KiB-record produce.
#
#   bash bench/kafka.sh            # REPS=3 RECORDS=2000000
#   QUICK=1 bash bench/kafka.sh    # smoke test
# Knobs for bench/run.sh (defaults keep the behaviour above): BIN_DIR=DIR
# uses built binaries instead of `cargo build --release`; APPEND_MIB (512)
# sizes the storage append baseline; KEEP_RAW=FILE keeps the per-run results
# (TSV: rep, record bytes, produce records/s, produce MB/s, consume
# records/s, collector peak RSS KiB, append baseline MB/s, consume records/s
# with two consumers on a two-partition topic).
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-3}
RECORDS=${RECORDS:-2000000}
if [ "${QUICK:-0}" = 1 ]; then REPS=1; RECORDS=200000; fi
APPEND_MIB=${APPEND_MIB:-512}

if [ -n "${BIN_DIR:-}" ]; then
  BIN=$(cd "$BIN_DIR" && pwd)
else
  cargo build --release --quiet --bin logship --bin logship-bench
  BIN=target/release
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/logship-kafka-bench.XXXXXX")
trap 'pkill -P $$ || true; rm -rf "$work"' EXIT

. bench/kafka-lib.sh

results="$work/results.tsv"
for rep in $(seq "$REPS"); do
  rm -rf "$work/append"
  base=$("$BIN/logship-bench" append --dir "$work/append" --appenders 1 --batch-bytes 1048576 --record-bytes 1024 --total-mib "$APPEND_MIB" | field MBps)
  rm -rf "$work/append"
  for size in 100 1024; do
    start_collector
    n=$RECORDS; [ "$size" = 1024 ] && n=$((RECORDS / 4))
    p=$("$BIN/logship-bench" kafka-produce --bootstrap-server 127.0.0.1:19392 --topic "load$size" --records "$n" --record-bytes "$size" --acks all)
    c=$("$BIN/logship-bench" kafka-consume --bootstrap-server 127.0.0.1:19392 --topic "load$size" --records "$n")
    # Peak RSS of the produce + consume run (before the extra topic below).
    rss=$(peak_rss_kb "$COLLECTOR")
    # The same records read by two consumers (threads), one partition each,
    # as kafka-consumer-perf-test --threads 2: the collector's side of the
    # consume rate, less bound by one client's per-message cost.
    "$BIN/logship" topics create "load${size}p2" --partitions 2 --bootstrap-server 127.0.0.1:19392 > /dev/null
    "$BIN/logship-bench" kafka-produce --bootstrap-server 127.0.0.1:19392 --topic "load${size}p2" --records "$n" --record-bytes "$size" --acks all > /dev/null
    c2=$("$BIN/logship-bench" kafka-consume --bootstrap-server 127.0.0.1:19392 --topic "load${size}p2" --records "$n" --partitions 2 --consumers 2)
    stop_collector
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$size" \
      "$(echo "$p" | field records_per_s)" "$(echo "$p" | field MBps)" \
      "$(echo "$c" | field records_per_s)" "$rss" "$base" \
      "$(echo "$c2" | field records_per_s)" >> "$results"
    echo "rep $rep size $size: $p | $c | $c2 | rss ${rss} KiB (${PEAK_RSS_KB} KiB with the two-partition topic) | append baseline ${base} MB/s"
  done
done

[ -n "${KEEP_RAW:-}" ] && cp "$results" "$KEEP_RAW"

python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().split("\n") if l]
for size in ("100", "1024"):
    r = [x for x in rows if x[1] == size]
    med = lambda i: statistics.median(float(x[i]) for x in r)
    ratio = statistics.median(float(x[3]) / float(x[6]) for x in r)
    print(f"{size:>5} B records: produce {med(2):,.0f} rec/s ({med(3):.1f} MB/s, {ratio:.0%} of storage append), "
          f"consume {med(4):,.0f} rec/s (two consumers: {med(7):,.0f} rec/s), collector peak RSS {med(5)/1024:.0f} MiB")
PY
