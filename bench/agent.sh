#!/usr/bin/env bash
# Agent benchmark: a release agent tails a generated access log (about 200 B
# lines) and ships it to a release collector on the same machine over HTTP
# ingest (default durability: group-commit fsync before the ack). Each
# repetition measures, from a fresh agent and collector:
#   - the raw compression baseline `gzip -1 -c FILE > /dev/null` (and zstd -1,
#     lz4 -1 when installed), from the page cache;
#   - end-to-end MB/s and lines/s with gzip, zstd and lz4: from starting the
#     agent until logship_agent_sink_records_total reaches the file's line
#     count; agent and collector CPU seconds and peak RSS (VmHWM);
#   - write-to-consume latency at 10 MB/s with a 5 ms linger (gzip), through
#     an rdkafka consumer on the collector's Kafka port;
#   - 1,000 files appended to at about 5,000 lines/s in total: the agent's
#     peak RSS and the most descriptors it held (sampled every second).
# Prints a Markdown table of medians over REPS, with min-max and the targets.
#
#   bash bench/agent.sh                 # REPS=3 SIZE_MIB=1024
#   QUICK=1 bash bench/agent.sh         # smoke test: REPS=1 SIZE_MIB=64
#   SIZE_MIB=512 REPS=5 bash bench/agent.sh
#   CODECS="lz4 kafka-lz4" bash bench/agent.sh   # kafka-CODEC: the Kafka sink, same file
#   CODECS="gzip mtls-gzip" bash bench/agent.sh  # mtls-CODEC: the collector sink over https
#                                                # with client certificates (logship tls init)
# Knobs for bench/run.sh (defaults keep the behaviour above): BIN_DIR=DIR
# uses built binaries instead of `cargo build --release`; LOG_KIND=json
# generates JSON application-log lines (gen-app-logs) instead of access-log
# lines; LATENCY=0 / FANOUT=0 skip those scenarios; FAN_IDLE_SECONDS=N
# also measures the agent's CPU and RSS over N idle seconds after the
# fan-out (1,000 files open, nothing written); KEEP_RAW=FILE keeps the
# per-repetition results (TSV: rep, kind, key, value); ALTERNATE=1 runs
# CODECS in reverse order in even repetitions (a ratio between two codecs
# then does not favour the one that always runs first).
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-}
SIZE_MIB=${SIZE_MIB:-}
if [ "${QUICK:-0}" = 1 ]; then REPS=${REPS:-1}; SIZE_MIB=${SIZE_MIB:-64}; fi
REPS=${REPS:-3}
SIZE_MIB=${SIZE_MIB:-1024}
CODECS=${CODECS:-gzip zstd lz4}
LAT_MBPS=${LAT_MBPS:-10}
LAT_SECONDS=${LAT_SECONDS:-10}
FAN_FILES=${FAN_FILES:-1000}
FAN_SECONDS=${FAN_SECONDS:-20}
FAN_RATE=${FAN_RATE:-5000}
# Give up when the agent makes no progress for this long.
STALL_SECONDS=${STALL_SECONDS:-60}
LOG_KIND=${LOG_KIND:-access}
LATENCY=${LATENCY:-1}
FANOUT=${FANOUT:-1}
FAN_IDLE_SECONDS=${FAN_IDLE_SECONDS:-0}
ALTERNATE=${ALTERNATE:-0}

if [ -n "${BIN_DIR:-}" ]; then
  BIN=$(cd "$BIN_DIR" && pwd)
else
  cargo build --release --quiet --bin logship --bin logship-bench
  BIN=$PWD/target/release
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/logship-agent-bench.XXXXXX")
trap 'pkill -P $$ || true; rm -rf "$work"' EXIT
TCK=$(getconf CLK_TCK)
KAFKA=127.0.0.1:19792
CHTTP=127.0.0.1:19780
AHTTP=127.0.0.1:19786
# The collector's HTTP scheme and curl's TLS options: https with mutual TLS
# for mtls-* runs (start_collector tls).
CSCHEME=http
CCURL=()
TLS_DIR=$work/tls

log() { echo "$*" >&2; }
fail() { log "FAIL: $*"; for f in "$work"/*.log; do [ -f "$f" ] && { log "--- $f (tail)"; tail -n 20 "$f" >&2; }; done; exit 1; }
field() { sed -n "s/\(^\|.* \)$1=\([0-9.]*\).*/\2/p" | head -n1; }
now() { date +%s.%N; }

# CPU seconds (utime + stime) and peak RSS in KiB of a live process.
cpu_s() { awk -v t="$TCK" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/$1/stat"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
# Per-thread CPU seconds of a process grouped by thread name, for where-the-time-goes.
threads() {
  for t in /proc/"$1"/task/*; do
    printf '%s\t%s\n' "$(cat "$t/comm")" "$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "$t/stat")"
  done | awk -F'\t' -v t="$TCK" '{c[$1] += $2; n[$1]++} END {for (k in c) printf "%s x%d %.2fs; ", k, n[k], c[k] / t}'
}

start_collector() { # [tls]
  rm -rf "$work/cdata"
  local tls=
  CSCHEME=http
  if [ "${1:-}" = tls ]; then
    [ -f "$TLS_DIR/ca.pem" ] || "$BIN/logship" tls init --dir "$TLS_DIR" --hosts 127.0.0.1,localhost --clients agent > /dev/null 2>&1
    tls="    tls: {cert_file: $TLS_DIR/server.pem, key_file: $TLS_DIR/server.key, ca_file: $TLS_DIR/ca.pem, client_auth: required}"
    CSCHEME=https
    CCURL=(--cacert "$TLS_DIR/ca.pem" --cert "$TLS_DIR/agent.pem" --key "$TLS_DIR/agent.key")
  fi
  cat > "$work/c.yaml" <<YAML
collector:
  data_dir: $work/cdata
  kafka:
    listen: $KAFKA
  http:
    listen: $CHTTP
$tls
YAML
  : > "$work/collector.log"
  "$BIN/logship" run --config "$work/c.yaml" 2> "$work/collector.log" &
  COLLECTOR=$!
  for _ in $(seq 100); do
    grep -q "collector ready" "$work/collector.log" && return
    sleep 0.1
  done
  fail "collector did not start"
}

# start_agent GLOB TOPIC COMPRESSION; a COMPRESSION of kafka-CODEC ships
# through the Kafka sink (librdkafka) to the collector's Kafka port instead.
start_agent() {
  rm -rf "$work/adata"
  case $3 in
    kafka-*) sink="    type: kafka
    brokers: [\"$KAFKA\"]
    compression: ${3#kafka-}"
      # KAFKA_OPTIONS="k=v ...": librdkafka properties for the Kafka sink.
      if [ -n "${KAFKA_OPTIONS:-}" ]; then
        sink+=$'\n    options:'
        for kv in $KAFKA_OPTIONS; do sink+=$'\n'"      \"${kv%%=*}\": \"${kv#*=}\""; done
      fi ;;
    mtls-*) sink="    type: collector
    url: https://$CHTTP
    compression: ${3#mtls-}
    tls: {ca_file: $TLS_DIR/ca.pem, cert_file: $TLS_DIR/agent.pem, key_file: $TLS_DIR/agent.key}" ;;
    *) sink="    type: collector
    url: http://$CHTTP
    compression: $3" ;;
  esac
  cat > "$work/a.yaml" <<YAML
agent:
  data_dir: $work/adata
  http: {listen: $AHTTP}
  sources:
    bench:
      type: file
      include: ["$1"]
      topic: $2
  sink:
$sink
    batch: {linger: 5ms}            # max_bytes, max_records: defaults
YAML
  : > "$work/agent.log"
  "$BIN/logship" run --config "$work/a.yaml" 2> "$work/agent.log" &
  AGENT=$!
  AGENT_STARTED=$(now)
  for _ in $(seq 100); do
    grep -q "agent ready" "$work/agent.log" && return
    kill -0 "$AGENT" 2>/dev/null || fail "agent exited"
    sleep 0.1
  done
  fail "agent did not start"
}

stop() { # PID
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# A metric's value: the sum over series whose line starts with PREFIX, 0 if absent.
# The collector's HTTP port speaks https during mtls-* runs.
url() { if [ "$1" = "$CHTTP" ]; then echo "$CSCHEME://$1"; else echo "http://$1"; fi; }
metric() { # HOST:PORT PREFIX
  { curl -sf ${CCURL[@]+"${CCURL[@]}"} "$(url "$1")/metrics" || true; } | awk -v p="$2" 'index($0, p) == 1 {s += $NF} END {printf "%d", s}'
}

# A histogram's cumulative buckets on one line, "le:count ...", for the log.
hist() { # HOST:PORT NAME
  { curl -sf ${CCURL[@]+"${CCURL[@]}"} "$(url "$1")/metrics" || true; } | awk -v p="$2_bucket" '
    index($0, p) == 1 { match($0, /le="[^"]*"/); printf "%s:%s ", substr($0, RSTART + 4, RLENGTH - 5), $NF }'
}

# Waits until the agent has shipped N records; sets WAIT_SECS (from agent start).
wait_shipped() { # N
  local last=-1 last_change
  last_change=$(now)
  while :; do
    local n
    n=$(metric "$AHTTP" 'logship_agent_sink_records_total{source="bench"}')
    if [ "$n" -ge "$1" ]; then
      WAIT_SECS=$(echo "$(now) - $AGENT_STARTED" | bc -l)
      [ "$n" -eq "$1" ] || fail "agent shipped $n records, more than the $1 lines written"
      return
    fi
    if [ "$n" != "$last" ]; then last=$n; last_change=$(now); fi
    if [ "$(echo "$(now) - $last_change > $STALL_SECONDS" | bc -l)" = 1 ]; then
      fail "agent stalled at $n of $1 records for ${STALL_SECONDS}s"
    fi
    kill -0 "$AGENT" 2>/dev/null || fail "agent exited with $n of $1 records shipped"
    sleep 0.05
  done
}

# Checks the collector holds exactly N records of TOPIC and the agent saw no errors.
check_delivery() { # N TOPIC
  local appended rejected errors
  appended=$(metric "$CHTTP" "logship_collector_log_appended_records_total{topic=\"$2\"}")
  rejected=$(metric "$AHTTP" 'logship_agent_sink_records_rejected_total')
  errors=$(metric "$AHTTP" 'logship_agent_errors_total')
  [ "$appended" -eq "$1" ] || fail "collector appended $appended records of $2, expected $1"
  [ "$rejected" -eq 0 ] || fail "agent had $rejected records rejected"
  if [ "$errors" -ne 0 ]; then
    log "note: agent errors: $(curl -sf "http://$AHTTP/metrics" | grep '^logship_agent_errors_total' | tr '\n' ' ')"
  fi
}

avail_mib=$(df -Pm "$work" | awk 'NR == 2 {print $4}')
[ "$avail_mib" -gt $((SIZE_MIB * 3 + 1024)) ] || fail "need about $((SIZE_MIB * 3 + 1024)) MiB free in $work"

mkdir -p "$work/logs"
case $LOG_KIND in
  access) FILE=$work/logs/access.log
    gen=$("$BIN/logship-bench" gen-logs --out "$FILE" --bytes $((SIZE_MIB << 20)) --seed 1) ;;
  json) FILE=$work/logs/app.log
    gen=$("$BIN/logship-bench" gen-app-logs --out "$FILE" --bytes $((SIZE_MIB << 20)) --seed 1) ;;
  *) fail "LOG_KIND must be access or json" ;;
esac
LINES=$(echo "$gen" | field lines)
BYTES=$(echo "$gen" | field bytes)
log "$gen"
log "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

results="$work/results.tsv" # rep kind key value
put() { printf '%s\t%s\t%s\t%s\n' "$rep" "$1" "$2" "$3" >> "$results"; }

for rep in $(seq "$REPS"); do
  log "== repetition $rep/$REPS (load $(cut -d' ' -f1-3 /proc/loadavg))"
  cat "$FILE" > /dev/null # page cache
  for tool in gzip zstd lz4; do
    command -v "$tool" > /dev/null || continue
    t0=$(now); "$tool" -1 -c "$FILE" > /dev/null; t1=$(now)
    mbps=$(echo "$BYTES / ($t1 - $t0) / 1000000" | bc -l)
    put base "$tool" "$mbps"
    log "baseline $tool -1: $(printf %.1f "$mbps") MB/s"
  done

  order=$CODECS
  if [ "$ALTERNATE" = 1 ] && [ $((rep % 2)) = 0 ]; then order=$(echo "$CODECS" | tr ' ' '\n' | tac | tr '\n' ' '); fi
  for codec in $order; do
    sync # the last run's write-back is not this run's
    case $codec in mtls-*) start_collector tls ;; *) start_collector ;; esac
    start_agent "$work/logs/*.log" bench "$codec"
    wait_shipped "$LINES"
    a_cpu=$(cpu_s "$AGENT"); a_rss=$(hwm_kb "$AGENT"); a_thr=$(threads "$AGENT")
    c_cpu=$(cpu_s "$COLLECTOR"); c_rss=$(hwm_kb "$COLLECTOR"); c_thr=$(threads "$COLLECTOR")
    check_delivery "$LINES" bench
    sent=$(metric "$AHTTP" 'logship_agent_sink_bytes_total{source="bench"}')
    batches=$(metric "$AHTTP" 'logship_agent_sink_batches_total{source="bench"}')
    stop "$AGENT"; stop "$COLLECTOR"
    grep -iE ' (WARN|ERROR) ' "$work/agent.log" "$work/collector.log" | head -n 5 >&2 || true
    mbps=$(echo "$BYTES / $WAIT_SECS / 1000000" | bc -l)
    put e2e "$codec.MBps" "$mbps"
    put e2e "$codec.lines" "$(echo "$LINES / $WAIT_SECS" | bc -l)"
    put e2e "$codec.agent_cpu" "$a_cpu"
    put e2e "$codec.coll_cpu" "$c_cpu"
    put e2e "$codec.agent_rss" "$a_rss"
    put e2e "$codec.coll_rss" "$c_rss"
    put e2e "$codec.ratio" "$(echo "$BYTES / $sent" | bc -l)"
    log "$codec: $(printf %.1f "$mbps") MB/s, $(printf %.0f "$(echo "$LINES / $WAIT_SECS" | bc -l)") lines/s in $(printf %.2f "$WAIT_SECS") s;" \
      "agent ${a_cpu} CPU s, $((a_rss / 1024)) MiB peak; collector ${c_cpu} CPU s, $((c_rss / 1024)) MiB peak;" \
      "$batches batches, compressed $(printf %.1f "$(echo "$BYTES / $sent" | bc -l)")x"
    log "  agent threads: $a_thr"
    log "  collector threads: $c_thr"
  done

  # Latency: a file the agent follows, written at LAT_MBPS.
  if [ "$LATENCY" = 1 ]; then
  rm -rf "$work/lat"; mkdir -p "$work/lat"
  sync
  start_collector
  start_agent "$work/lat/*.log" lat gzip
  lat=$("$BIN/logship-bench" latency --file "$work/lat/lat.log" --rate-mbps "$LAT_MBPS" \
    --seconds "$LAT_SECONDS" --bootstrap-server "$KAFKA" --topic lat) || fail "latency run failed"
  log "$lat"
  log "  agent request seconds (cumulative buckets): $(hist "$AHTTP" logship_agent_sink_request_duration_seconds)"
  log "  collector fsync seconds (cumulative buckets): $(hist "$CHTTP" logship_collector_log_fsync_duration_seconds)"
  for k in p50_ms p99_ms p999_ms; do put lat "$k" "$(echo "$lat" | field "$k")"; done
  stop "$AGENT"; stop "$COLLECTOR"
  rm -rf "$work/lat"
  fi

  # Fan-out: FAN_FILES files appended to at FAN_RATE lines/s in total.
  if [ "$FANOUT" = 1 ]; then
  rm -rf "$work/fan"; mkdir -p "$work/fan"
  sync
  start_collector
  start_agent "$work/fan/*.log" fan gzip
  "$BIN/logship-bench" fanout --dir "$work/fan" --files "$FAN_FILES" --seconds "$FAN_SECONDS" \
    --rate-lines-per-s "$FAN_RATE" > "$work/fanout.out" &
  FAN=$!
  max_fds=0; max_rss=0
  while kill -0 "$FAN" 2>/dev/null; do
    fds=$(ls "/proc/$AGENT/fd" | wc -l)
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$AGENT/status")
    [ "$fds" -gt "$max_fds" ] && max_fds=$fds
    [ "$rss" -gt "$max_rss" ] && max_rss=$rss
    sleep 1
  done
  wait "$FAN" || fail "fanout failed"
  fan=$(cat "$work/fanout.out")
  log "$fan"
  fan_lines=$(echo "$fan" | field lines)
  wait_shipped "$fan_lines"
  fds=$(ls "/proc/$AGENT/fd" | wc -l); [ "$fds" -gt "$max_fds" ] && max_fds=$fds
  fan_hwm=$(hwm_kb "$AGENT")
  fan_cpu=$(cpu_s "$AGENT"); fan_ccpu=$(cpu_s "$COLLECTOR"); fan_thr=$(threads "$AGENT")
  batches=$(metric "$AHTTP" 'logship_agent_sink_batches_total{source="bench"}')
  if [ "$FAN_IDLE_SECONDS" != 0 ]; then
    # Idle: every file still open and followed, nothing written.
    i0=$(cpu_s "$AGENT"); ic0=$(cpu_s "$COLLECTOR")
    sleep "$FAN_IDLE_SECONDS"
    i1=$(cpu_s "$AGENT"); ic1=$(cpu_s "$COLLECTOR")
    idle_rss=$(awk '/^VmRSS/ {print $2}' "/proc/$AGENT/status")
    idle_pct=$(echo "($i1 - $i0) * 100 / $FAN_IDLE_SECONDS" | bc -l)
    put fan idle_cpu_pct "$idle_pct"
    put fan idle_coll_cpu_pct "$(echo "($ic1 - $ic0) * 100 / $FAN_IDLE_SECONDS" | bc -l)"
    put fan idle_rss "$idle_rss"
    log "fanout idle ${FAN_IDLE_SECONDS}s: agent $(printf %.2f "$idle_pct")% of a core, RSS $((idle_rss / 1024)) MiB;" \
      "collector $(printf %.2f "$(echo "($ic1 - $ic0) * 100 / $FAN_IDLE_SECONDS" | bc -l)")% of a core"
  fi
  check_delivery "$fan_lines" fan
  stop "$AGENT"; stop "$COLLECTOR"
  rm -rf "$work/fan"
  put fan rss "$fan_hwm"
  put fan fds "$max_fds"
  put fan agent_cpu "$fan_cpu"
  put fan coll_cpu "$fan_ccpu"
  put fan batches "$batches"
  log "fanout: agent peak RSS $((fan_hwm / 1024)) MiB (sampled max $((max_rss / 1024)) MiB), max open fds $max_fds;" \
    "agent ${fan_cpu} CPU s, collector ${fan_ccpu} CPU s; $batches batches for $fan_lines lines"
  log "  agent threads: $fan_thr"
  fi
done

[ -n "${KEEP_RAW:-}" ] && cp "$results" "$KEEP_RAW"

python3 - "$results" "$CODECS" "$SIZE_MIB" "$LINES" "$BYTES" "$REPS" "$LAT_MBPS" "$FAN_FILES" "$FAN_RATE" <<'PY'
import statistics, sys
path, codecs, size_mib, lines, nbytes, reps, lat_mbps, fan_files, fan_rate = sys.argv[1:]
rows = [l.split("\t") for l in open(path).read().split("\n") if l]
codecs = codecs.split()

def vals(kind, key):
    return [float(r[3]) for r in rows if r[1] == kind and r[2] == key]

def per_rep(kind, key):
    return {r[0]: float(r[3]) for r in rows if r[1] == kind and r[2] == key}

def cell(v, fmt):
    if not v:
        return "-", "-"
    return fmt(statistics.median(v)), f"{fmt(min(v))}-{fmt(max(v))}"

mb = lambda x: f"{x:,.0f}"
s2 = lambda x: f"{x:.2f}"
mib = lambda kb: f"{kb / 1024:.1f}"
out = []
out.append(f"File: {int(nbytes):,} bytes, {int(lines):,} lines ({int(nbytes) / int(lines):.0f} B/line), {reps} repetition(s), medians with min-max.\n")
out.append("| measurement | median | min-max | target | result |")
out.append("|---|---:|---:|---|---|")
for tool in ("gzip", "zstd", "lz4"):
    m, r = cell(vals("base", tool), mb)
    if m != "-":
        out.append(f"| baseline `{tool} -1 -c FILE > /dev/null` (MB/s) | {m} | {r} | - | - |")
gz = per_rep("base", "gzip")
for c in codecs:
    v = vals("e2e", f"{c}.MBps")
    m, r = cell(v, mb)
    if c.startswith("kafka-"):
        # The Kafka sink's target: within 20% of the HTTP sink, same codec,
        # same repetition.
        http = per_rep("e2e", f"{c[6:]}.MBps")
        ratio = [x / http[k] for k, x in per_rep("e2e", f"{c}.MBps").items() if k in http]
        out.append(f"| agent -> collector through the Kafka sink, {c[6:]}: MB/s end to end | {m} | {r} | - | - |")
        rm, rr = cell(ratio, s2)
        res = "PASS" if ratio and statistics.median(ratio) >= 0.8 else ("FAIL" if ratio else "-")
        out.append(f"| ... ratio to same-rep HTTP sink, {c[6:]} | {rm} | {rr} | >= 0.80 | {res} |")
    elif c.startswith("mtls-"):
        # https + mutual TLS: within 10% of plain http, same codec, same repetition.
        http = per_rep("e2e", f"{c[5:]}.MBps")
        ratio = [x / http[k] for k, x in per_rep("e2e", f"{c}.MBps").items() if k in http]
        out.append(f"| agent -> collector over https + mutual TLS, {c[5:]}: MB/s end to end | {m} | {r} | - | - |")
        rm, rr = cell(ratio, s2)
        res = "PASS" if ratio and statistics.median(ratio) >= 0.9 else ("FAIL" if ratio else "-")
        out.append(f"| ... ratio to same-rep plain http, {c[5:]} | {rm} | {rr} | >= 0.90 | {res} |")
    else:
        target = 150 if c == "gzip" else 300
        res = "PASS" if v and statistics.median(v) >= target else "FAIL"
        out.append(f"| agent -> collector, {c}: MB/s end to end | {m} | {r} | >= {target} MB/s | {res} |")
    ratio = [x / gz[k] for k, x in per_rep("e2e", f"{c}.MBps").items() if k in gz]
    m, r = cell(ratio, s2)
    out.append(f"| ... ratio to same-rep `gzip -1` MB/s | {m} | {r} | - | - |")
    m, r = cell(vals("e2e", f"{c}.lines"), mb)
    out.append(f"| ... lines/s | {m} | {r} | - | - |")
    m, r = cell(vals("e2e", f"{c}.agent_cpu"), s2)
    out.append(f"| ... agent CPU s (user+sys) | {m} | {r} | - | - |")
    m, r = cell(vals("e2e", f"{c}.coll_cpu"), s2)
    out.append(f"| ... collector CPU s (user+sys) | {m} | {r} | - | - |")
    v = vals("e2e", f"{c}.agent_rss")
    m, r = cell(v, mib)
    res = "PASS" if v and statistics.median(v) <= 48 * 1024 else "FAIL"
    out.append(f"| ... agent peak RSS (MiB) | {m} | {r} | <= 48 MiB | {res} |")
    m, r = cell(vals("e2e", f"{c}.coll_rss"), mib)
    out.append(f"| ... collector peak RSS (MiB) | {m} | {r} | - | - |")
    m, r = cell(vals("e2e", f"{c}.ratio"), lambda x: f"{x:.1f}x")
    out.append(f"| ... compression (file bytes / bytes sent) | {m} | {r} | - | - |")
for k, label in (("p50_ms", "p50"), ("p99_ms", "p99"), ("p999_ms", "p99.9")):
    v = vals("lat", k)
    m, r = cell(v, s2)
    target, res = "-", "-"
    if k == "p99_ms":
        target = "<= 20 ms"
        res = "PASS" if v and statistics.median(v) <= 20 else "FAIL"
    out.append(f"| latency write -> consume at {lat_mbps} MB/s, linger 5 ms, gzip: {label} (ms) | {m} | {r} | {target} | {res} |")
v = vals("fan", "rss")
m, r = cell(v, mib)
res = "PASS" if v and statistics.median(v) <= 48 * 1024 else "FAIL"
out.append(f"| {fan_files} files at {fan_rate} lines/s: agent peak RSS (MiB) | {m} | {r} | <= 48 MiB | {res} |")
m, r = cell(vals("fan", "fds"), lambda x: f"{x:.0f}")
out.append(f"| {fan_files} files: agent max open fds (sampled 1/s) | {m} | {r} | bounded | see text |")
m, r = cell(vals("fan", "agent_cpu"), s2)
out.append(f"| {fan_files} files: agent CPU s (whole run) | {m} | {r} | - | - |")
m, r = cell(vals("fan", "coll_cpu"), s2)
out.append(f"| {fan_files} files: collector CPU s (whole run) | {m} | {r} | - | - |")
m, r = cell(vals("fan", "batches"), lambda x: f"{x:,.0f}")
out.append(f"| {fan_files} files: batches sent | {m} | {r} | - | - |")
if vals("fan", "idle_rss"):
    m, r = cell(vals("fan", "idle_cpu_pct"), s2)
    out.append(f"| {fan_files} files idle: agent CPU (% of a core) | {m} | {r} | - | - |")
    m, r = cell(vals("fan", "idle_rss"), mib)
    out.append(f"| {fan_files} files idle: agent RSS (MiB) | {m} | {r} | - | - |")
print("\n".join(out))
PY
