#!/usr/bin/env bash
# Collector start-up benchmark: how long a release collector (`logship run`)
# takes from exec to "collector ready" on a data directory with PARTITIONS
# partitions and DATA_MIB of data, after a clean stop and after an unclean
# one (SIGKILL while a producer is writing).
#
# `logship-bench fill` writes the data through the storage engine (one topic,
# PARTITIONS partitions, 16 KiB batches of access-log lines round-robin, so
# every partition's data sits in its active segment) and closes it cleanly.
# Then each repetition:
#   1. sync; start the collector; time exec -> "collector ready" (clean stop
#      before: fill's close in repetition 1, SIGTERM after that);
#   2. rdkafka producer (acks=all, 200 B records over all partitions) for
#      LOAD_SECONDS, then SIGKILL the collector;
#   3. sync; start it again and time it (unclean: every active segment is
#      scanned and its index rebuilt);
#   4. SIGTERM, timing the clean stop (it fsyncs every segment).
# The page cache is warm (the data was just written); nothing drops it.
# Times come from the collector's own log timestamps ("storage loaded
# elapsed_ms", "collector ready") against the exec time.
#
#   bash bench/startup.sh                   # REPS=3 PARTITIONS=1000 DATA_MIB=3072
#   QUICK=1 bash bench/startup.sh           # REPS=1 DATA_MIB=64
#   BIN_DIR=target/release bash bench/startup.sh   # use built binaries, no cargo
#
# Prints one `startup ...` line per measurement on stdout (run.sh parses
# them), progress on stderr, then a Markdown table of medians with min-max.
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-}
DATA_MIB=${DATA_MIB:-}
if [ "${QUICK:-0}" = 1 ]; then REPS=${REPS:-1}; DATA_MIB=${DATA_MIB:-64}; fi
REPS=${REPS:-3}
DATA_MIB=${DATA_MIB:-3072}
PARTITIONS=${PARTITIONS:-1000}
LOAD_SECONDS=${LOAD_SECONDS:-2}
START_TIMEOUT=${START_TIMEOUT:-600}

if [ -n "${BIN_DIR:-}" ]; then
  BIN=$(cd "$BIN_DIR" && pwd)
else
  cargo build --release --quiet --bin logship --bin logship-bench
  BIN=$PWD/target/release
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/logship-startup-bench.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
KAFKA=127.0.0.1:19992
CHTTP=127.0.0.1:19980

log() { echo "$*" >&2; }
fail() { log "FAIL: $*"; [ -f "$work/collector.log" ] && tail -n 20 "$work/collector.log" >&2; exit 1; }
now() { date +%s.%N; }
epoch() { date -d "$1" +%s.%N; }

avail_mib=$(df -Pm "$work" | awk 'NR == 2 {print $4}')
[ "$avail_mib" -gt $((DATA_MIB * 2 + 1024)) ] || fail "need about $((DATA_MIB * 2 + 1024)) MiB free in $work"

cat > "$work/c.yaml" <<YAML
collector:
  data_dir: $work/data
  kafka:
    listen: $KAFKA
  http:
    listen: $CHTTP
YAML

# Starts the collector and waits for it; sets READY_SECS (exec -> "collector
# ready"), STORAGE_MS (its "storage loaded" elapsed_ms) and CLEAN.
start_collector() {
  : > "$work/collector.log"
  local t0
  t0=$(now)
  "$BIN/logship" run --config "$work/c.yaml" 2> "$work/collector.log" &
  COLLECTOR=$!
  PIDS+=("$COLLECTOR")
  local deadline=$(( $(date +%s) + START_TIMEOUT ))
  until grep -q "collector ready" "$work/collector.log"; do
    kill -0 "$COLLECTOR" 2>/dev/null || fail "collector exited during start-up"
    [ "$(date +%s)" -lt "$deadline" ] || fail "collector not ready after ${START_TIMEOUT}s"
    sleep 0.01
  done
  local ready loaded
  ready=$(grep -m1 "collector ready" "$work/collector.log" | cut -d' ' -f1)
  loaded=$(grep -m1 "storage loaded" "$work/collector.log")
  READY_SECS=$(echo "$(epoch "$ready") - $t0" | bc -l)
  STORAGE_MS=$(echo "$loaded" | sed -n 's/.* elapsed_ms=\([0-9]*\).*/\1/p')
  CLEAN=$(echo "$loaded" | sed -n 's/.* clean=\([a-z]*\).*/\1/p')
}

metric() { # PREFIX: sum of matching series
  { curl -sf "http://$CHTTP/metrics" || true; } | awk -v p="$1" 'index($0, p) == 1 {s += $NF} END {printf "%d", s}'
}

data_bytes() { du -sb "$work/data" | cut -f1; }
out() { echo "$*" | tee -a "$work/raw"; }

log "== fill: $PARTITIONS partitions, $DATA_MIB MiB"
fill=$("$BIN/logship-bench" fill --dir "$work/data" --partitions "$PARTITIONS" --bytes $((DATA_MIB << 20)))
log "$fill"
log "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

for rep in $(seq "$REPS"); do
  log "== repetition $rep/$REPS (load $(cut -d' ' -f1-3 /proc/loadavg))"
  sync
  bytes=$(data_bytes)
  start_collector
  [ "$CLEAN" = true ] || fail "expected a clean start, the log says clean=$CLEAN"
  out "startup rep=$rep stop=clean partitions=$PARTITIONS data_bytes=$bytes ready_secs=$(printf %.3f "$READY_SECS") storage_ms=$STORAGE_MS"

  "$BIN/logship-bench" kafka-produce --bootstrap-server "$KAFKA" --topic startup \
    --records 1000000000 --record-bytes 200 --acks all > "$work/produce.out" 2>&1 &
  PRODUCER=$!
  PIDS+=("$PRODUCER")
  sleep "$LOAD_SECONDS"
  before=$(metric 'logship_collector_log_appended_bytes_total')
  kill -9 "$COLLECTOR"; wait "$COLLECTOR" 2>/dev/null || true
  kill -9 "$PRODUCER" 2>/dev/null || true; wait "$PRODUCER" 2>/dev/null || true

  sync
  bytes=$(data_bytes)
  start_collector
  [ "$CLEAN" = false ] || fail "expected an unclean start, the log says clean=$CLEAN"
  truncated=$(metric 'logship_collector_log_recovery_truncated_bytes_total')
  out "startup rep=$rep stop=unclean partitions=$PARTITIONS data_bytes=$bytes ready_secs=$(printf %.3f "$READY_SECS") storage_ms=$STORAGE_MS truncated_bytes=$truncated load_appended_bytes=$before"

  t0=$(now)
  kill "$COLLECTOR"; wait "$COLLECTOR" || fail "collector exited non-zero on SIGTERM"
  grep -q "storage closed cleanly" "$work/collector.log" || fail "no clean close in the log"
  out "startup rep=$rep clean_stop_secs=$(printf %.3f "$(echo "$(now) - $t0" | bc -l)")"
done

python3 - "$work/raw" <<'PY'
import statistics, sys
rows = [dict(f.split("=", 1) for f in l.split()[1:]) for l in open(sys.argv[1]) if l.strip()]
def cell(vs, fmt="{:.3f}"):
    if not vs:
        return "-", "-"
    return fmt.format(statistics.median(vs)), fmt.format(min(vs)) + "-" + fmt.format(max(vs))
print()
print("| measurement | median | min-max |")
print("|---|---:|---:|")
for stop in ("clean", "unclean"):
    r = [x for x in rows if x.get("stop") == stop]
    if not r:
        continue
    gb = statistics.median(int(x["data_bytes"]) for x in r) / 1e9
    m, mm = cell([float(x["ready_secs"]) for x in r])
    print(f"| start after {stop} stop, {r[0]['partitions']} partitions, {gb:.2f} GB: exec -> ready (s) | {m} | {mm} |")
    m, mm = cell([float(x["storage_ms"]) / 1e3 for x in r])
    print(f"| ... of which storage load (s) | {m} | {mm} |")
m, mm = cell([float(x["clean_stop_secs"]) for x in rows if "clean_stop_secs" in x])
print(f"| clean stop: SIGTERM -> exit (s) | {m} | {mm} |")
PY
