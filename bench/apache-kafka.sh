#!/usr/bin/env bash
# logship beside Apache Kafka on this machine, with the same load tools in
# one run. Each repetition starts, in alternating order, a release collector
# (default durability: group-commit fsync before the ack) and one Apache
# Kafka 4.4 node (KRaft, broker+controller in one JVM, 1 GiB heap:
# -Xmx1g -Xms1g as kafka-server-start.sh gives it; every other setting at
# Kafka's default) on 127.0.0.1. On each broker, per record size (100 B and
# 1 KiB), logship-bench's rdkafka producer (acks=all) fills a one-partition
# topic and its consumer reads it back. Kafka gets two topics: one at the
# defaults (Kafka acknowledges before any fsync) and one with
# flush.messages=1 (fsync before the ack, as the collector). Then
# kafka-producer-perf-test (ProducerPerformance, acks=all, 100 B records,
# the Java producer's defaults otherwise) runs once against each. Peak RSS
# is the broker's VmHWM (collector process, Kafka JVM) after its runs.
# Each broker first takes an untimed warm-up load (RECORDS/10 records).
# Prints the medians and per-repetition ratios with issue 17's targets.
# Consume rates come twice: over the consumer's whole run (its start-up,
# metadata and offset look-ups included: about half a second of
# librdkafka's own timers, the same for both brokers, which alone caps a
# short run's ratio) and from its first record on (the fetching alone).
# Each consume line also gives the CPU seconds the consumer (user+sys) and
# the broker spent during it: on a 2-core machine a consumer near its
# wall time of CPU is the bottleneck, whichever broker feeds it.
#
#   bash bench/apache-kafka.sh          # REPS=3 RECORDS=500000 (1 KiB: a quarter)
#   QUICK=1 bash bench/apache-kafka.sh  # smoke: REPS=1 RECORDS=20000
# Knobs: BIN_DIR=DIR (built logship + logship-bench instead of
# `cargo build --release`), KEEP_DIR=DIR (keep raw results and logs).
# Needs java and .ci/java/classpath.txt (written by .ci/setup).
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-3}
RECORDS=${RECORDS:-500000}
if [ "${QUICK:-0}" = 1 ]; then REPS=1; RECORDS=20000; fi

if [ -n "${BIN_DIR:-}" ]; then
  BIN=$(cd "$BIN_DIR" && pwd)
else
  cargo build --release --quiet --bin logship --bin logship-bench
  BIN=target/release
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/logship-apache-kafka-bench.XXXXXX")
trap 'pkill -P $$ || true; [ -n "${KEEP_DIR:-}" ] && mkdir -p "$KEEP_DIR" && cp -r "$work"/*.tsv "$work"/*.log "$KEEP_DIR"/ 2>/dev/null; rm -rf "$work"' EXIT
. bench/kafka-lib.sh

LOGSHIP=127.0.0.1:19392
KAFKA=127.0.0.1:19492
kafka_init

# utime + stime of process $1, in clock ticks (1/$TCK s).
TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

results="$work/results.tsv"   # rep broker size produce_rps produce_MBps consume_rps consume_MBps consume_rps_after_first consume_MBps_after_first
perf="$work/perf.tsv"         # rep broker records/s MB/s
rss="$work/rss.tsv"           # rep broker KiB

# One broker's runs: the rdkafka tool at both sizes on topic load$size$3.
load() { # name bootstrap topic-suffix [topic configs...]
  local name=$1 bs=$2 suffix=$3; shift 3
  local size n p c cfg=()
  for kv in "$@"; do cfg+=(--config "$kv"); done
  for size in 100 1024; do
    n=$RECORDS; [ "$size" = 1024 ] && n=$((RECORDS / 4))
    "$BIN/logship" topics create "load$size$suffix" --partitions 1 "${cfg[@]}" --bootstrap-server "$bs" > /dev/null
    p=$("$BIN/logship-bench" kafka-produce --bootstrap-server "$bs" --topic "load$size$suffix" --records "$n" --record-bytes "$size" --acks all)
    # CPU seconds of the consumer (user+sys) and of the broker during it.
    b0=$(cpu_ticks "$BROKER_PID")
    { TIMEFORMAT='%U %S'; time "$BIN/logship-bench" kafka-consume --bootstrap-server "$bs" --topic "load$size$suffix" --records "$n" > "$work/consume"; } 2> "$work/time"
    c=$(cat "$work/consume")
    c="$c client_cpu_s=$(awk '{print $1 + $2}' "$work/time") broker_cpu_s=$(awk -v a="$b0" -v b="$(cpu_ticks "$BROKER_PID")" -v t="$TCK" 'BEGIN { printf "%.2f", (b - a) / t }')"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$name" "$size" \
      "$(echo "$p" | field records_per_s)" "$(echo "$p" | field MBps)" \
      "$(echo "$c" | field records_per_s)" "$(echo "$c" | field MBps)" \
      "$(echo "$c" | field after_first_rps)" "$(echo "$c" | field after_first_mbs)" >> "$results"
    echo "rep $rep $name $size B: $p | $c"
  done
}

# An untimed warm-up before the timed runs (the JVM's JIT, both brokers'
# first connections): RECORDS/10 100 B records to topic warmup.
warmup() {
  "$BIN/logship-bench" kafka-produce --bootstrap-server "$1" --topic warmup --records $((RECORDS / 10)) --record-bytes 100 --acks all > /dev/null
}

# kafka-producer-perf-test, 100 B records, acks=all.
perftest() { # name bootstrap topic
  local out
  "$BIN/logship" topics create "$3" --partitions 1 "${@:4}" --bootstrap-server "$2" > /dev/null
  out=$(jtool org.apache.kafka.tools.ProducerPerformance --topic "$3" --num-records "$RECORDS" \
    --record-size 100 --throughput -1 --producer-props bootstrap.servers="$2" acks=all | tail -1)
  echo "rep $rep $1 kafka-producer-perf-test: $out"
  printf '%s\t%s\t%s\t%s\n' "$rep" "$1" \
    "$(echo "$out" | sed -n 's/.*, \([0-9.]*\) records\/sec.*/\1/p')" \
    "$(echo "$out" | sed -n 's/.*(\([0-9.]*\) MB\/sec).*/\1/p')" >> "$perf"
}

run_logship() {
  start_collector 19392
  BROKER_PID=$COLLECTOR
  warmup "$LOGSHIP"
  load logship "$LOGSHIP" ""
  perftest logship "$LOGSHIP" perf
  stop_collector
  printf '%s\tlogship\t%s\n' "$rep" "$PEAK_RSS_KB" >> "$rss"
}

run_kafka() { # the two topics' order alternates with the repetition
  start_kafka "$KAFKA"
  BROKER_PID=$KAFKA_PID
  warmup "$KAFKA"
  if [ $((rep % 2)) = 1 ]; then
    load kafka "$KAFKA" ""; load kafka-flush "$KAFKA" f flush.messages=1
  else
    load kafka-flush "$KAFKA" f flush.messages=1; load kafka "$KAFKA" ""
  fi
  perftest kafka "$KAFKA" perf
  perftest kafka-flush "$KAFKA" perff --config flush.messages=1
  stop_kafka
  printf '%s\tkafka\t%s\n' "$rep" "$KAFKA_RSS_KB" >> "$rss"
}

loads=()
for rep in $(seq "$REPS"); do
  loads+=("$(uptime | sed 's/.*load average: //')")
  echo "rep $rep: load average ${loads[-1]}"
  if [ $((rep % 2)) = 1 ]; then run_logship; run_kafka; else run_kafka; run_logship; fi
done
loads+=("$(uptime | sed 's/.*load average: //')")

echo
echo "Load averages (1, 5, 15 min) at the start of each repetition and at the end: $(printf '%s; ' "${loads[@]}")"
echo "$(nproc) cores; REPS=$REPS RECORDS=$RECORDS (1 KiB: $((RECORDS / 4))); Kafka 4.4.0, 1 GiB heap, one node, one partition; rdkafka producer acks=all linger.ms=5"
echo
python3 - "$results" "$perf" "$rss" <<'PY'
import statistics as st, sys
res = [l.split("\t") for l in open(sys.argv[1]).read().splitlines() if l]
perf = [l.split("\t") for l in open(sys.argv[2]).read().splitlines() if l]
rss = [l.split("\t") for l in open(sys.argv[3]).read().splitlines() if l]
reps = sorted({r[0] for r in res})
def get(rows, rep, name, size, col):
    for r in rows:
        if r[0] == rep and r[1] == name and (size is None or r[2] == size):
            return float(r[col])
def med(xs): return st.median(xs)
def span(xs): return f"{min(xs):.2f}-{max(xs):.2f}" if len(xs) > 1 else ""
print("| figure | logship | Kafka (defaults) | Kafka (flush.messages=1) | logship / Kafka defaults | logship / Kafka flush | target |")
print("|---|---:|---:|---:|---:|---:|---|")
def row(label, vals, target_fn, fmt):
    l, k, f = ([v[i] for v in vals] for i in range(3))
    rk = [a / b for a, b in zip(l, k)]
    rf = [a / b for a, b in zip(l, f)] if f[0] is not None else None
    t = target_fn(med(rk), med(rf) if rf else None)
    print(f"| {label} | {fmt(med(l))} | {fmt(med(k))} | {fmt(med(f)) if rf else '-'} | "
          f"{med(rk):.2f} ({span(rk)}) | " + (f"{med(rf):.2f} ({span(rf)})" if rf else "-") + f" | {t} |")
def mark(ok): return "**met**" if ok else "**not met**"
recs = lambda x: f"{x:,.0f} rec/s"
mbs = lambda x: f"{x:.1f} MB/s"
for size, label in (("100", "100 B"), ("1024", "1 KiB")):
    for col, what, fmt in ((3, "produce", recs), (4, "produce", mbs), (5, "consume", recs), (6, "consume", mbs),
                           (7, "consume", recs), (8, "consume", mbs)):
        vals = [(get(res, r, "logship", size, col), get(res, r, "kafka", size, col), get(res, r, "kafka-flush", size, col)) for r in reps]
        if what == "produce":
            tf = lambda k, f: f">= 1.0x defaults: {mark(k >= 1.0)}; >= 1.5x flush: {mark(f >= 1.5)}"
        else:
            tf = lambda k, f: f">= 2x Kafka: {mark(k >= 2.0)}"
        first = " from the first record" if col in (7, 8) else ""
        row(f"{what} {label}, rdkafka{first}" + (" (MB/s)" if col in (4, 6, 8) else ""), vals, tf, fmt)
for col, fmt in ((2, recs), (3, mbs)):
    vals = [(get(perf, r, "logship", None, col), get(perf, r, "kafka", None, col), get(perf, r, "kafka-flush", None, col)) for r in reps]
    row("produce 100 B, kafka-producer-perf-test" + (" (MB/s)" if col == 3 else ""), vals, lambda k, f: "-", fmt)
vals = [(get(rss, r, "logship", None, 2), get(rss, r, "kafka", None, 2), None) for r in reps]
l = [v[0] for v in vals]; k = [v[1] for v in vals]; rk = [a / b for a, b in zip(l, k)]
print(f"| broker peak RSS (VmHWM) | {med(l)/1024:.0f} MiB | {med(k)/1024:.0f} MiB (both topics) | - | {med(rk):.3f} ({min(rk):.3f}-{max(rk):.3f}) | - | <= 0.1x Kafka: {mark(med(rk) <= 0.1)} |")
PY
