#!/usr/bin/env bash
# Consumer group benchmark: a release collector on this machine, three
# default-configured rdkafka consumers. Measures the time from subscribe to a
# stable assignment and the rebalance after one member leaves, with the
# collector's initial rebalance delay at its default (3 s) and at 0; then
# consume throughput through a group against a plain assigned consumer.
#
#   bash bench/groups.sh         # REPS=3
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-3}
RECORDS=${RECORDS:-2000000}
cargo build --release --quiet --bin logship --bin logship-bench
BIN=target/release
work=$(mktemp -d "${TMPDIR:-/tmp}/logship-group-bench.XXXXXX")
trap 'pkill -P $$ || true; rm -rf "$work"' EXIT

start_collector() { # $1 = initial rebalance delay
  rm -rf "$work/data"
  cat > "$work/c.yaml" <<YAML
collector:
  data_dir: $work/data
  kafka:
    listen: 127.0.0.1:19592
  http:
    listen: 127.0.0.1:19580
  groups:
    initial_rebalance_delay: $1
YAML
  "$BIN/logship" run --config "$work/c.yaml" 2> "$work/collector.log" &
  COLLECTOR=$!
  for _ in $(seq 100); do grep -q "collector ready" "$work/collector.log" && return; sleep 0.1; done
  echo "collector did not start" >&2; exit 1
}
B=127.0.0.1:19592

for delay in 3s 0s; do
  start_collector "$delay"
  "$BIN/logship" topics create grp --partitions 6 --bootstrap-server "$B" >/dev/null
  for rep in $(seq "$REPS"); do
    echo "delay=$delay rep=$rep $("$BIN/logship-bench" kafka-group --bootstrap-server "$B" --topic grp --members 3)"
  done
  kill "$COLLECTOR"; wait "$COLLECTOR" || true
done

start_collector 0s
"$BIN/logship-bench" kafka-produce --bootstrap-server "$B" --topic thr --records "$RECORDS" --record-bytes 100 >/dev/null
for rep in $(seq "$REPS"); do
  echo "rep=$rep $("$BIN/logship-bench" kafka-consume --bootstrap-server "$B" --topic thr --records "$RECORDS")"
  echo "rep=$rep $("$BIN/logship-bench" kafka-consume --bootstrap-server "$B" --topic thr --records "$RECORDS" --group "g$rep")"
done
kill "$COLLECTOR"; wait "$COLLECTOR" || true
