#!/usr/bin/env bash
# logship against rsyslog, the peer shipper from Debian: the same generated
# file (access-log and JSON application-log lines, about 200 B each) shipped
# into the same release logship collector, the same topic settings (a fresh
# topic with PARTITIONS partitions, acks=all, the collector's default
# group-commit fsync before every ack), the same compression codec:
#
#   logship: `logship run` with an agent config tailing the file, shipping to
#            the collector's HTTP ingest (batch linger 5 ms, other batch
#            settings at their defaults), compression CODEC;
#   rsyslog: `rsyslogd -n -f CONF -i PIDFILE` with its own work directory,
#            imfile (inotify) on the file bound to a ruleset with a
#            FixedArray queue (2,048-message dequeue batches) and omkafka to
#            the collector's Kafka port: template "%rawmsg%" (the line),
#            acks=all, compression.codec=CODEC, linger.ms=5,
#            batch.num.messages=10000, infinite action retry. (On a 256 MiB
#            access log, imfile on the main queue instead was 9% slower,
#            no queue settings at all 18% slower, two queue workers the
#            same: none was faster.)
#
# Each run starts a fresh collector and one shipper, which reads the file
# from its start. The clock runs from exec'ing the shipper until the
# collector has appended as many records to the topic as the file has lines
# (logship_collector_log_appended_records_total, polled every 50 ms; the
# same stop condition for both shippers, and one that costs neither of them
# CPU). Then the shipper's CPU seconds (utime + stime of the whole process
# from /proc/PID/stat) and peak RSS (VmHWM) are read, the shipper is stopped,
# and with VERIFY=1 a Kafka consumer (kcat) reads the topic from the
# beginning: it must see exactly the file's lines, byte for byte (md5 of the
# payloads, one per line, against md5 of the file; sorted first when
# PARTITIONS > 1). Shippers alternate which goes first in each repetition.
#
#   bash bench/rsyslog.sh                       # REPS=3 SIZE_MIB=512
#   QUICK=1 bash bench/rsyslog.sh               # REPS=1 SIZE_MIB=16
#   KINDS=access CODECS=zstd bash bench/rsyslog.sh
#   BIN_DIR=target/release bash bench/rsyslog.sh   # use built binaries, no cargo
#
# Needs rsyslogd with omkafka (Debian: rsyslog rsyslog-kafka), kcat, curl,
# bc, python3; bench/run.sh installs them. Prints one `shipper ...` line per
# run on stdout (run.sh parses them), progress on stderr, then a Markdown
# table: lines/s and CPU seconds per GB (10^9 bytes of file) for each
# shipper, and the same-repetition ratio logship / rsyslog.
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-}
SIZE_MIB=${SIZE_MIB:-}
if [ "${QUICK:-0}" = 1 ]; then REPS=${REPS:-1}; SIZE_MIB=${SIZE_MIB:-16}; fi
REPS=${REPS:-3}
SIZE_MIB=${SIZE_MIB:-512}
KINDS=${KINDS:-access json}
CODECS=${CODECS:-gzip zstd}
SHIPPERS=${SHIPPERS:-logship rsyslog}
PARTITIONS=${PARTITIONS:-1}
VERIFY=${VERIFY:-1}
STALL_SECONDS=${STALL_SECONDS:-60}

for tool in rsyslogd kcat curl bc python3; do
  command -v "$tool" > /dev/null || { echo "rsyslog.sh: needs $tool (bench/run.sh installs it)" >&2; exit 1; }
done
if [ -n "${BIN_DIR:-}" ]; then
  BIN=$(cd "$BIN_DIR" && pwd)
else
  cargo build --release --quiet --bin logship --bin logship-bench
  BIN=$PWD/target/release
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/logship-rsyslog-bench.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
TCK=$(getconf CLK_TCK)
KAFKA=127.0.0.1:19892
CHTTP=127.0.0.1:19880
AHTTP=127.0.0.1:19886

log() { echo "$*" >&2; }
fail() {
  log "FAIL: $*"
  for f in "$work"/*.err; do [ -f "$f" ] && { log "--- $f (tail)"; tail -n 20 "$f" >&2; }; done
  exit 1
}
now() { date +%s.%N; }
field() { sed -n "s/\(^\|.* \)$1=\([0-9.]*\).*/\2/p" | head -n1; }
cpu_s() { awk -v t="$TCK" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/$1/stat"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
metric() { # HOST:PORT PREFIX: the sum of matching series, 0 if absent
  { curl -sf "http://$1/metrics" || true; } | awk -v p="$2" 'index($0, p) == 1 {s += $NF} END {printf "%d", s}'
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

start_collector() {
  rm -rf "$work/cdata"
  cat > "$work/c.yaml" <<YAML
collector:
  data_dir: $work/cdata
  kafka:
    listen: $KAFKA
  http:
    listen: $CHTTP
YAML
  : > "$work/collector.err"
  "$BIN/logship" run --config "$work/c.yaml" 2> "$work/collector.err" &
  COLLECTOR=$!
  PIDS+=("$COLLECTOR")
  for _ in $(seq 100); do
    if grep -q "collector ready" "$work/collector.err"; then
      "$BIN/logship" topics create bench --partitions "$PARTITIONS" --bootstrap-server "$KAFKA" > /dev/null \
        || fail "creating the topic"
      return
    fi
    sleep 0.1
  done
  fail "collector did not start"
}

start_logship() { # FILE CODEC
  rm -rf "$work/adata"
  cat > "$work/a.yaml" <<YAML
agent:
  data_dir: $work/adata
  http: {listen: $AHTTP}
  sources:
    bench:
      type: file
      include: ["$1"]
      topic: bench
  sink:
    type: collector
    url: http://$CHTTP
    compression: $2
    batch: {linger: 5ms}
YAML
  : > "$work/shipper.err"
  STARTED=$(now)
  "$BIN/logship" run --config "$work/a.yaml" 2> "$work/shipper.err" &
  SHIPPER=$!
  PIDS+=("$SHIPPER")
}

start_rsyslog() { # FILE CODEC
  rm -rf "$work/rsyslog"; mkdir -p "$work/rsyslog"
  cat > "$work/rsyslog.conf" <<CONF
global(workDirectory="$work/rsyslog" maxMessageSize="64k")
module(load="imfile" mode="inotify")
module(load="omkafka")
template(name="raw" type="string" string="%rawmsg%")
ruleset(name="ship" queue.type="FixedArray" queue.size="200000" queue.dequeueBatchSize="2048") {
  action(type="omkafka" broker=["$KAFKA"] topic="bench" template="raw"
         partitions.auto="on" resubmitOnFailure="on" action.resumeRetryCount="-1"
         confParam=["compression.codec=$2", "linger.ms=5", "batch.num.messages=10000",
                    "queue.buffering.max.messages=1000000"]
         topicConfParam=["request.required.acks=-1"])
}
input(type="imfile" file="$1" tag="bench" ruleset="ship")
CONF
  : > "$work/shipper.err"
  STARTED=$(now)
  rsyslogd -n -f "$work/rsyslog.conf" -i "$work/rsyslog/rsyslogd.pid" 2> "$work/shipper.err" &
  SHIPPER=$!
  PIDS+=("$SHIPPER")
}

# Waits until the collector has appended N records to the topic; sets SECS.
wait_appended() { # N SHIPPER-NAME
  local last=-1 last_change n
  last_change=$(now)
  while :; do
    n=$(metric "$CHTTP" 'logship_collector_log_appended_records_total{topic="bench"')
    if [ "$n" -ge "$1" ]; then
      SECS=$(echo "$(now) - $STARTED" | bc -l)
      return
    fi
    if [ "$n" != "$last" ]; then last=$n; last_change=$(now); fi
    if [ "$(echo "$(now) - $last_change > $STALL_SECONDS" | bc -l)" = 1 ]; then
      fail "$2 stalled at $n of $1 lines for ${STALL_SECONDS}s"
    fi
    kill -0 "$SHIPPER" 2>/dev/null || fail "$2 exited with $n of $1 lines shipped"
    sleep 0.05
  done
}

payload_md5() {
  local sorter=cat
  [ "$PARTITIONS" = 1 ] || sorter="sort"
  kcat -C -b "$KAFKA" -t bench -o beginning -e -q -f '%s\n' \
    -X max.partition.fetch.bytes=16777216 -X fetch.max.bytes=52428800 \
    -X queued.min.messages=2000000 | "$sorter" | md5sum | cut -d' ' -f1
}

avail_mib=$(df -Pm "$work" | awk 'NR == 2 {print $4}')
[ "$avail_mib" -gt $((SIZE_MIB * 4 + 1024)) ] || fail "need about $((SIZE_MIB * 4 + 1024)) MiB free in $work"

log "rsyslog: $(rsyslogd -v | head -n1); kcat: $(kcat -V 2>&1 | grep -m1 -o 'librdkafka [0-9.]*' || true)"
log "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
mkdir -p "$work/logs"
declare -A LINES BYTES MD5
for kind in $KINDS; do
  file=$work/logs/$kind.log
  case $kind in
    access) gen=$("$BIN/logship-bench" gen-logs --out "$file" --bytes $((SIZE_MIB << 20)) --seed 1) ;;
    json) gen=$("$BIN/logship-bench" gen-app-logs --out "$file" --bytes $((SIZE_MIB << 20)) --seed 1) ;;
    *) fail "unknown kind $kind (access or json)" ;;
  esac
  log "$kind: $gen"
  LINES[$kind]=$(echo "$gen" | field lines)
  BYTES[$kind]=$(echo "$gen" | field bytes)
  MD5[$kind]=$( { if [ "$PARTITIONS" = 1 ]; then cat "$file"; else sort "$file"; fi; } | md5sum | cut -d' ' -f1)
done

raw=$work/raw
for rep in $(seq "$REPS"); do
  log "== repetition $rep/$REPS (load $(cut -d' ' -f1-3 /proc/loadavg))"
  order=$SHIPPERS
  [ $((rep % 2)) = 0 ] && order=$(echo "$SHIPPERS" | tr ' ' '\n' | tac | tr '\n' ' ')
  for kind in $KINDS; do
    file=$work/logs/$kind.log
    n=${LINES[$kind]}
    for codec in $CODECS; do
      for shipper in $order; do
        cat "$file" > /dev/null # page cache, as for both shippers
        sync
        start_collector
        case $shipper in
          logship) start_logship "$file" "$codec" ;;
          rsyslog) start_rsyslog "$file" "$codec" ;;
          *) fail "unknown shipper $shipper" ;;
        esac
        wait_appended "$n" "$shipper"
        s_cpu=$(cpu_s "$SHIPPER"); s_rss=$(hwm_kb "$SHIPPER"); c_cpu=$(cpu_s "$COLLECTOR")
        stop "$SHIPPER"
        appended=$(metric "$CHTTP" 'logship_collector_log_appended_records_total{topic="bench"')
        [ "$appended" -eq "$n" ] || fail "$shipper: the collector appended $appended records for $n lines"
        if [ "$VERIFY" = 1 ]; then
          got=$(payload_md5)
          [ "$got" = "${MD5[$kind]}" ] || fail "$shipper: consumed payloads differ from the file (md5 $got, file ${MD5[$kind]})"
        fi
        stop "$COLLECTOR"
        grep -iE ' (WARN|ERROR) ' "$work/shipper.err" "$work/collector.err" | head -n 5 >&2 || true
        bytes=${BYTES[$kind]}
        line="shipper rep=$rep kind=$kind codec=$codec shipper=$shipper lines=$n bytes=$bytes"
        line+=" secs=$(printf %.3f "$SECS") lines_per_s=$(printf %.0f "$(echo "$n / $SECS" | bc -l)")"
        line+=" MBps=$(printf %.1f "$(echo "$bytes / $SECS / 1000000" | bc -l)") cpu_s=$s_cpu"
        line+=" cpu_s_per_GB=$(printf %.2f "$(echo "$s_cpu / ($bytes / 1000000000)" | bc -l)")"
        line+=" rss_kb=$s_rss coll_cpu_s=$c_cpu verified=$VERIFY"
        echo "$line" | tee -a "$raw"
      done
    done
  done
done

python3 - "$raw" <<'PY'
import statistics, sys
rows = [dict(f.split("=", 1) for f in l.split()[1:]) for l in open(sys.argv[1]) if l.strip()]
med = statistics.median

def rng(vs, fmt):
    return f"{fmt(min(vs))}-{fmt(max(vs))}"

n0 = lambda x: f"{x:,.0f}"
f2 = lambda x: f"{x:.2f}"
print()
print("| file | codec | measurement | logship | rsyslog | logship / rsyslog (same-rep median, min-max) | target | result |")
print("|---|---|---|---:|---:|---:|---|---|")
for kind in dict.fromkeys(r["kind"] for r in rows):
    for codec in dict.fromkeys(r["codec"] for r in rows if r["kind"] == kind):
        sel = {(r["rep"], r["shipper"]): r for r in rows if r["kind"] == kind and r["codec"] == codec}
        reps = sorted({k[0] for k in sel})
        for key, label, fmt, target, better in (
            ("lines_per_s", "lines/s", n0, ">= 3x", lambda q: q >= 3),
            ("cpu_s_per_GB", "CPU s per GB", f2, "< 1x", lambda q: q < 1),
            ("rss_kb", "peak RSS MiB", lambda x: f"{x / 1024:.1f}", "-", None),
        ):
            cells = []
            for s in ("logship", "rsyslog"):
                vs = [float(sel[(r, s)][key]) for r in reps if (r, s) in sel]
                cells.append(f"{fmt(med(vs))} ({rng(vs, fmt)})" if vs else "-")
            ratios = [float(sel[(r, "logship")][key]) / float(sel[(r, "rsyslog")][key])
                      for r in reps if (r, "logship") in sel and (r, "rsyslog") in sel]
            if ratios:
                q = med(ratios)
                rc = f"{q:.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
                res = "-" if better is None else ("MET" if better(q) else "NOT MET")
            else:
                rc, res = "-", "-"
            print(f"| {kind} | {codec} | {label} | {cells[0]} | {cells[1]} | {rc} | {target} | {res} |")
PY
