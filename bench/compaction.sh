#!/usr/bin/env bash
# Log cleaner benchmark (issue 18): a release collector cleans a partition of
# SIZE_MIB of 1 KiB records with 10% distinct keys, beside `dd bs=1M
# conv=fdatasync` of the same bytes measured in the same run, while
# logship-bench produces 1 KiB records (acks=all) to another topic; that
# produce rate is compared with the same produce without cleaning.
#
#   bash bench/compaction.sh              # SIZE_MIB=1024
#   QUICK=1 bash bench/compaction.sh      # SIZE_MIB=64, a smoke test
# Targets: cleaner throughput >= 0.3x dd; produce while cleaning >= 0.8x.
# Knobs: PORT (the Kafka listener, default 19492; HTTP is PORT-12), BIN_DIR=DIR (built binaries instead of `cargo build --release`),
# CLEANER_IO (collector.storage.cleaner_io_bytes_per_sec; unset, the
# collector's default: no cap), PRODUCE_RECORDS (the other topic's load,
# default SIZE_MIB * 256), CLEANER_RENICE=N (renice the collector's
# `logship-cleaner` thread, nice 19 by default, to N: an A/B of the
# cleaner's low CPU priority with one binary; lowering a nice value needs
# root).
#
# The partition is written under cleanup.policy=delete (64 MiB segments),
# then switched to compact, which starts one cleaning of all of it; the
# throughput is the partition's bytes (removed plus written) over that
# cleaning's duration (the cleaner's metrics); the cleaner thread's CPU
# time is printed too (its cost, far less noisy than its duration on a
# shared machine). The cleaner reads the dirty bytes twice (key map, then
# rewrite), as Kafka's does, and its I/O cap counts both reads and the
# writes.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB=${SIZE_MIB:-1024}
if [ "${QUICK:-0}" = 1 ]; then SIZE_MIB=64; fi
CLEANER_IO=${CLEANER_IO:-}
RECORDS=$((SIZE_MIB * 1024))
KEYS=$((RECORDS / 10))
PRODUCE_RECORDS=${PRODUCE_RECORDS:-$((SIZE_MIB * 256))}

if [ -n "${BIN_DIR:-}" ]; then
  BIN=$(cd "$BIN_DIR" && pwd)
else
  cargo build --release --quiet --bin logship --bin logship-bench
  BIN=target/release
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/logship-compaction-bench.XXXXXX")
trap 'pkill -P $$ || true; rm -rf "$work"' EXIT

port=${PORT:-19492}
http=$((port - 12))
rm -rf "$work/data"
cat > "$work/c.yaml" <<YAML
collector:
  data_dir: $work/data
  kafka:
    listen: 127.0.0.1:$port
  http:
    listen: 127.0.0.1:$http
  storage:
    cleaner_interval: 1s
YAML
if [ -n "$CLEANER_IO" ]; then
  echo "    cleaner_io_bytes_per_sec: $CLEANER_IO" >> "$work/c.yaml"
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); cleaner I/O cap: ${CLEANER_IO:-none (default)}"
"$BIN/logship" run --config "$work/c.yaml" 2> "$work/collector.log" &
COLLECTOR=$!
for _ in $(seq 100); do
  grep -q "collector ready" "$work/collector.log" && break
  sleep 0.1
done
grep -q "collector ready" "$work/collector.log" || { cat "$work/collector.log" >&2; exit 1; }
cleaner_tid=$(grep -l '^logship-cleaner$' /proc/"$COLLECTOR"/task/*/comm | cut -d/ -f5)
if [ -n "${CLEANER_RENICE:-}" ]; then renice -n "$CLEANER_RENICE" -p "$cleaner_tid" > /dev/null; fi
echo "cleaner thread $cleaner_tid at nice $(cut -d' ' -f19 /proc/"$COLLECTOR"/task/"$cleaner_tid"/stat)"

b=127.0.0.1:$port
metric() { curl -s "http://127.0.0.1:$http/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
produce() { "$BIN/logship-bench" kafka-produce --bootstrap-server "$b" --acks all --record-bytes 1024 "$@"; }

"$BIN/logship" topics create compacted --config cleanup.policy=delete \
  --config segment.bytes=67108864 --config min.cleanable.dirty.ratio=0.01 \
  --bootstrap-server "$b" > /dev/null
"$BIN/logship" topics create other --bootstrap-server "$b" > /dev/null

echo "== writing $SIZE_MIB MiB of 1 KiB records, $KEYS keys"
produce --topic compacted --records "$RECORDS" --keys "$KEYS" | sed 's/^/  /'

echo "== dd bs=1M count=$SIZE_MIB conv=fdatasync"
dd_out=$(dd if=/dev/zero of="$work/dd" bs=1M count="$SIZE_MIB" conv=fdatasync 2>&1 | tail -1)
rm -f "$work/dd"
echo "  $dd_out"
dd_secs=$(echo "$dd_out" | sed -n 's/.*copied, \([0-9.]*\) s.*/\1/p')
dd_mbps=$(echo "$SIZE_MIB * 1048576 / $dd_secs / 1000000" | bc -l)

echo "== produce to another topic, no cleaning"
base=$(produce --topic other --records "$PRODUCE_RECORDS" | tee /dev/stderr | field records_per_s)

echo "== switch to cleanup.policy=compact; produce to the other topic while it cleans"
runs_before=$(metric logship_collector_cleaner_runs_total)
"$BIN/logship" topics alter compacted --config cleanup.policy=compact --bootstrap-server "$b" > /dev/null
# Start producing once the cleaning has begun.
for _ in $(seq 600); do
  compgen -G "$work/data/compacted-0/*.cleaned" > /dev/null && break
  sleep 0.05
done
during=$(produce --topic other --records "$PRODUCE_RECORDS" | tee /dev/stderr | field records_per_s)
for _ in $(seq 3600); do
  [ "$(metric logship_collector_cleaner_runs_total)" != "$runs_before" ] && break
  sleep 0.5
done
still_cleaning=0
[ "$(metric logship_collector_cleaner_runs_total)" = "$runs_before" ] && still_cleaning=1

read_bytes=$(metric logship_collector_cleaner_read_bytes_total)
written=$(metric logship_collector_cleaner_written_bytes_total)
removed=$(metric logship_collector_cleaner_removed_bytes_total)
cleaned=$((removed + written))
secs=$(metric logship_collector_cleaner_last_run_duration_seconds)
grep "cleaned partition" "$work/collector.log" | tail -1 | sed 's/^/  /'
clean_mbps=$(echo "$cleaned / $secs / 1000000" | bc -l)
# The cleaner thread's CPU time, user + system (the thread is idle but for
# this one cleaning).
cleaner_cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' /proc/"$COLLECTOR"/task/"$cleaner_tid"/stat)
kill "$COLLECTOR"; wait "$COLLECTOR" || true
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

printf '\n%-44s %s\n' "dd conv=fdatasync" "$(printf '%.1f MB/s' "$dd_mbps")"
printf '%-44s %s\n' "cleaner ($((cleaned / 1048576)) MiB; read $((read_bytes / 1048576)), wrote $((written / 1048576)))" \
  "$(printf '%.1f MB/s in %.1f s, %.2fx dd (target >= 0.3x)' "$clean_mbps" "$secs" "$(echo "$clean_mbps / $dd_mbps" | bc -l)")"
printf '%-44s %s\n' "cleaner thread CPU time" "$cleaner_cpu s"
printf '%-44s %s\n' "produce 1 KiB, other topic, no cleaning" "$(printf '%.0f records/s' "$base")"
printf '%-44s %s\n' "produce 1 KiB, other topic, while cleaning" \
  "$(printf '%.0f records/s, %.2fx (target >= 0.8x)' "$during" "$(echo "$during / $base" | bc -l)")"
if [ "$still_cleaning" = 1 ]; then echo "(the cleaning had not finished when the wait ended)"; fi
