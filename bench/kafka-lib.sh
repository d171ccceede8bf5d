# Shell functions shared by bench/kafka.sh and bench/apache-kafka.sh; sourced.
# They use the caller's $BIN (directory of the logship binaries) and $work
# (scratch directory).

# Starts a fresh release collector (default durability: fsync before the
# ack) with its data in $work/data, Kafka on 127.0.0.1:${1:-19392}; sets
# COLLECTOR to its pid.
start_collector() {
  local port=${1:-19392}
  rm -rf "$work/data"
  cat > "$work/c.yaml" <<YAML
collector:
  data_dir: $work/data
  kafka:
    listen: 127.0.0.1:$port
  http:
    listen: 127.0.0.1:$((port - 12))
YAML
  "$BIN/logship" run --config "$work/c.yaml" 2> "$work/collector.log" &
  COLLECTOR=$!
  for _ in $(seq 100); do
    grep -q "collector ready" "$work/collector.log" && return
    sleep 0.1
  done
  echo "collector did not start" >&2; cat "$work/collector.log" >&2; exit 1
}

# Peak RSS (VmHWM, KiB) of process $1.
peak_rss_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

stop_collector() {
  PEAK_RSS_KB=$(peak_rss_kb "$COLLECTOR")
  kill "$COLLECTOR"; wait "$COLLECTOR" || true
}

# The number after NAME= in the tools' key=value output on stdin.
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
