#!/usr/bin/env bash
# TLS and SASL costs (issue 15, "Performance"), each against its plaintext
# baseline measured in the same run, the two alternating in order:
#   kafka    one collector with plaintext, ssl, sasl_plaintext and sasl_ssl
#            listeners (certificates from `logship tls init`); logship-bench's
#            rdkafka producer (1 KiB records, acks=all) then consumer on the
#            plaintext listener and on the ssl one; records/s, and the
#            collector's CPU seconds per GB of records (from /proc, around each
#            produce and each consume). Both also give the client's CPU
#            seconds (user+sys of logship-bench) per GB.
#   apache   the reference for kafka: one Apache Kafka 4.4 node (KRaft, from
#            the jars in .ci/java/classpath.txt, as bench/apache-kafka.sh
#            starts it) with a PLAINTEXT and an SSL listener (the same
#            server certificate and key; Java's PEM key store), the same
#            producer and consumer runs on both listeners, on two topics: one
#            at Kafka's defaults (it acknowledges before any fsync) and one
#            with flush.messages=1 (fsync before the ack, as the collector);
#            records/s, and Kafka's CPU seconds per GB. Kafka runs TLS
#            itself (the JDK's), so what its ratio shows that the collector's
#            does not is the share of the client's own TLS cost. Not in the
#            default SCENARIOS (it needs java and the jars .ci/setup installs).
#   agent    bench/agent.sh with CODECS="gzip mtls-gzip" (ALTERNATE=1): the
#            agent end to end over plain http and over https + mutual TLS.
#   connect  logship-bench tls-connect: new connections per second, each
#            TCP connect + full TLS handshake (no resumption) + ApiVersions,
#            first on an idle collector (plain TCP, then TLS: the collector's
#            CPU per connection gives the handshake cost), then TLS while an
#            rdkafka producer loads the plaintext listener.
#   scram    logship-bench scram-auth: CLIENTS connections each doing
#            SaslHandshake + SCRAM-SHA-512 SaslAuthenticate, on sasl_plaintext
#            and sasl_ssl; the client derives its salted password once per
#            thread (what is timed is the server); one more run on sasl_ssl
#            does the client's PBKDF2 (4096 iterations) per connection, as
#            librdkafka does, to show that cost.
# Prints a Markdown table (medians over REPS, min-max, ratios, targets).
#
#   bash bench/tls.sh                # REPS=3, release build
#   SMOKE=1 bash bench/tls.sh        # tiny and fast (CI, debug build)
#   SCENARIOS="kafka apache" bash bench/tls.sh   # logship and Apache Kafka
# Environment (full / smoke): REPS 3/1; RECORDS 500000/5000 (1 KiB);
# SIZE_MIB 256/2 (agent file); CONN_SECONDS 10/1; CONN_THREADS 8/2;
# CLIENTS 1000/50; SCENARIOS "kafka agent connect scram"; BIN_DIR (use these
# binaries, no cargo); PROFILE release/debug (without BIN_DIR); KEEP_RAW=FILE
# keeps the per-run results (TSV: rep, scenario, key, value).
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C
# Apache Kafka's start and stop (its start_collector, stop_collector and
# field are replaced below by this script's own).
. bench/kafka-lib.sh

SMOKE=${SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
  : "${REPS:=1}" "${RECORDS:=5000}" "${SIZE_MIB:=2}" "${CONN_SECONDS:=1}" "${CONN_THREADS:=2}"
  : "${CLIENTS:=50}" "${PROFILE:=debug}"
fi
REPS=${REPS:-3}
RECORDS=${RECORDS:-500000}
SIZE_MIB=${SIZE_MIB:-256}
CONN_SECONDS=${CONN_SECONDS:-10}
CONN_THREADS=${CONN_THREADS:-8}
CLIENTS=${CLIENTS:-1000}
SCENARIOS=${SCENARIOS:-kafka agent connect scram}
PROFILE=${PROFILE:-release}

if [ -n "${BIN_DIR:-}" ]; then
  BIN=$(cd "$BIN_DIR" && pwd)
elif [ "$PROFILE" = release ]; then
  cargo build --release --quiet --bin logship --bin logship-bench
  BIN=$PWD/target/release
else
  cargo build --quiet --bin logship --bin logship-bench
  BIN=$PWD/target/debug
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/logship-tls-bench.XXXXXX")
PIDS=()
cleanup() {
  local p
  for p in ${PIDS[@]+"${PIDS[@]}"}; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
TCK=$(getconf CLK_TCK)
PLAIN=127.0.0.1:19592
SSL=127.0.0.1:19593
SASL=127.0.0.1:19594
SASL_SSL=127.0.0.1:19595
CHTTP=127.0.0.1:19580
KPLAIN=127.0.0.1:19892 # Apache Kafka; its controller on 19893
KSSL=127.0.0.1:19894

log() { echo "$*" >&2; }
fail() {
  log "FAIL: $*"
  [ -f "$work/collector.log" ] && tail -n 20 "$work/collector.log" >&2
  [ -f "$work/kafka.log" ] && tail -n 20 "$work/kafka.log" >&2
  exit 1
}
field() { sed -n "s/\(^\|.* \)$1=\([0-9.]*\).*/\2/p" | head -n1; }
cpu_s() { awk -v t="$TCK" '{ sub(/^.*\) /, ""); printf "%.3f", ($12 + $13) / t }' "/proc/$1/stat"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

results="$work/results.tsv" # rep scenario key value
: > "$results"
put() { printf '%s\t%s\t%s\t%s\n' "$rep" "$1" "$2" "$3" >> "$results"; }
# Runs logship-bench ARGS; OUT is its output, CLIENT_CPU its CPU seconds
# (user+sys, all its threads).
bench() {
  local TIMEFORMAT='%U %S'
  { time "$BIN/logship-bench" "$@" > "$work/bench.out" 2> "$work/bench.err"; } 2> "$work/bench.time" ||
    { cat "$work/bench.err" >&2; return 1; }
  OUT=$(cat "$work/bench.out")
  CLIENT_CPU=$(awk '{ print $1 + $2 }' "$work/bench.time")
}
# CPU seconds per GB (10^9 bytes) of RECORDS 1 KiB records.
per_gb() { echo "$1 * 1000000000 / ($RECORDS * 1024)" | bc -l; }

"$BIN/logship" tls init --dir "$work/tls" --hosts 127.0.0.1,localhost --clients agent > "$work/tls-init.log" 2>&1 \
  || { cat "$work/tls-init.log" >&2; fail "logship tls init failed"; }
CA=$work/tls/ca.pem
# The SCRAM user's password: a file, never an argument.
head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$work/password"
chmod 600 "$work/password"

start_collector() {
  rm -rf "$work/data"
  mkdir -p "$work/data"
  "$BIN/logship" users add bench --mechanism SCRAM-SHA-512 --credentials "$work/data/credentials.json" \
    < "$work/password" > /dev/null 2>&1 || fail "users add failed"
  local tls="{cert_file: $work/tls/server.pem, key_file: $work/tls/server.key}"
  cat > "$work/c.yaml" <<YAML
collector:
  data_dir: $work/data
  http:
    listen: $CHTTP
  kafka:
    listeners:
      - { name: plain, listen: $PLAIN }
      - { name: tls, listen: $SSL, security: ssl, tls: $tls }
      - { name: sasl, listen: $SASL, security: sasl_plaintext, sasl_mechanisms: [SCRAM-SHA-512] }
      - { name: saslssl, listen: $SASL_SSL, security: sasl_ssl, sasl_mechanisms: [SCRAM-SHA-512], tls: $tls }
YAML
  "$BIN/logship" run --config "$work/c.yaml" 2> "$work/collector.log" &
  COLLECTOR=$!
  PIDS+=("$COLLECTOR")
  for _ in $(seq 200); do
    grep -q "collector ready" "$work/collector.log" && return
    kill -0 "$COLLECTOR" 2>/dev/null || fail "collector exited"
    sleep 0.1
  done
  fail "collector did not start"
}
stop_collector() { kill "$COLLECTOR" 2>/dev/null || true; wait "$COLLECTOR" 2>/dev/null || true; }

# librdkafka properties for each listener.
rdk() { # plain|ssl
  if [ "$1" = ssl ]; then
    echo "--set security.protocol=ssl --set ssl.ca.location=$CA"
  fi
}

# Produce then consume RECORDS 1 KiB records on topic TOPIC through ADDR
# (plain or ssl), broker PID; puts SCEN's PROTO.{produce,consume}_{rps,
# cpu_per_gb,client_cpu_per_gb}.
produce_consume() { # SCEN PROTO ADDR TOPIC PID
  local scen=$1 proto=$2 addr=$3 topic=$4 pid=$5 c0 c1 p
  c0=$(cpu_s "$pid")
  # shellcheck disable=SC2046
  bench kafka-produce --bootstrap-server "$addr" --topic "$topic" --records "$RECORDS" \
    --record-bytes 1024 --acks all $(rdk "$proto") || fail "$scen: produce over $proto failed"
  c1=$(cpu_s "$pid")
  p=$OUT
  put "$scen" "$proto.produce_rps" "$(echo "$p" | field records_per_s)"
  put "$scen" "$proto.produce_cpu_per_gb" "$(per_gb "($c1 - $c0)")"
  put "$scen" "$proto.produce_client_cpu_per_gb" "$(per_gb "$CLIENT_CPU")"
  p="$p client_cpu_s=$CLIENT_CPU broker_cpu_s=$(printf %.2f "$(echo "$c1 - $c0" | bc)")"
  # shellcheck disable=SC2046
  bench kafka-consume --bootstrap-server "$addr" --topic "$topic" --records "$RECORDS" \
    $(rdk "$proto") || fail "$scen: consume over $proto failed"
  c0=$(cpu_s "$pid")
  put "$scen" "$proto.consume_rps" "$(echo "$OUT" | field records_per_s)"
  put "$scen" "$proto.consume_cpu_per_gb" "$(per_gb "($c0 - $c1)")"
  put "$scen" "$proto.consume_client_cpu_per_gb" "$(per_gb "$CLIENT_CPU")"
  log "$scen $proto: $p | $OUT client_cpu_s=$CLIENT_CPU broker_cpu_s=$(printf %.2f "$(echo "$c0 - $c1" | bc)") (load $(load))"
}

scen_kafka() {
  start_collector
  local order="plain ssl" proto addr
  [ $((rep % 2)) = 0 ] && order="ssl plain"
  for proto in $order; do
    addr=$PLAIN; [ "$proto" = ssl ] && addr=$SSL
    produce_consume kafka "$proto" "$addr" "t$proto" "$COLLECTOR"
  done
  stop_collector
}

# Apache Kafka's key store: Java's PEM key store takes the unencrypted
# PKCS#8 private key (what `logship tls init` writes) and the certificate
# chain in one file.
kafka_keystore() {
  grep -q -- "-----BEGIN PRIVATE KEY-----" "$work/tls/server.key" ||
    fail "server.key is not an unencrypted PKCS#8 key"
  cat "$work/tls/server.key" "$work/tls/server.pem" > "$work/kafka-keystore.pem"
  chmod 600 "$work/kafka-keystore.pem"
}

scen_apache() {
  if [ ! -f "$work/kafka-keystore.pem" ]; then
    command -v java > /dev/null && [ -f .ci/java/classpath.txt ] ||
      fail "scenario apache needs java and .ci/java/classpath.txt (written by .ci/setup)"
    kafka_init
    kafka_keystore
  fi
  start_kafka "$KPLAIN" "$KSSL" "$work/kafka-keystore.pem"
  PIDS+=("$KAFKA_PID")
  local order="plain ssl" proto addr topic cfg
  [ $((rep % 2)) = 0 ] && order="ssl plain"
  log "apache: Kafka's SSL listener: $(openssl s_client -connect "$KSSL" -CAfile "$CA" < /dev/null 2>/dev/null |
    sed -n 's/^New, \(.*\)$/\1/p; s/^ *Verify return code: \(.*\)$/verify: \1/p' | tr '\n' ' ')"
  # Untimed warm-up on both listeners, a produce and a consume each (the
  # JIT: without it the first consume of a repetition cost Kafka 1-2 s more
  # CPU than the others, plaintext or ssl).
  for proto in plain ssl; do
    addr=$KPLAIN; [ "$proto" = ssl ] && addr=$KSSL
    # shellcheck disable=SC2046
    "$BIN/logship-bench" kafka-produce --bootstrap-server "$addr" --topic "warmup$proto" \
      --records $((RECORDS / 10 + 1)) --record-bytes 1024 --acks all $(rdk "$proto") > /dev/null &&
      "$BIN/logship-bench" kafka-consume --bootstrap-server "$addr" --topic "warmup$proto" \
        --records $((RECORDS / 10 + 1)) $(rdk "$proto") > /dev/null ||
      fail "apache: warm-up over $proto failed"
  done
  # Each topic's plaintext and ssl runs side by side; which topic comes
  # first alternates too.
  local topics="defaults flush"
  [ $((rep % 2)) = 0 ] && topics="flush defaults"
  for topic in $topics; do
    cfg=(); [ "$topic" = flush ] && cfg=(--config flush.messages=1)
    for proto in $order; do
      "$BIN/logship" topics create "$topic$proto" --partitions 1 "${cfg[@]}" --bootstrap-server "$KPLAIN" \
        > /dev/null || fail "apache: topics create $topic$proto failed"
      addr=$KPLAIN; [ "$proto" = ssl ] && addr=$KSSL
      produce_consume "apache-$topic" "$proto" "$addr" "$topic$proto" "$KAFKA_PID"
    done
  done
  stop_kafka
  log "apache: Kafka's peak RSS $((KAFKA_RSS_KB / 1024)) MiB"
}

scen_agent() {
  log "agent: bench/agent.sh CODECS=\"gzip mtls-gzip\" REPS=$REPS (all repetitions at once)"
  BIN_DIR=$BIN REPS=$REPS SIZE_MIB=$SIZE_MIB CODECS="gzip mtls-gzip" ALTERNATE=1 LATENCY=0 FANOUT=0 \
    KEEP_RAW="$work/agent.tsv" bash bench/agent.sh > "$work/agent.md" 2> "$work/agent.log" ||
    { tail -n 30 "$work/agent.log" >&2; fail "bench/agent.sh failed"; }
  grep -E '^(gzip|mtls-gzip):' "$work/agent.log" >&2 || true
  awk -F'\t' '$2 == "e2e" && ($3 ~ /^(gzip|mtls-gzip)\.(MBps|agent_cpu|coll_cpu)$/) {print $1 "\tagent\t" $3 "\t" $4}' \
    "$work/agent.tsv" >> "$results"
}

connect_run() { # KEY ARGS...
  local key=$1 out c0 c1 n
  shift
  c0=$(cpu_s "$COLLECTOR")
  out=$("$BIN/logship-bench" tls-connect --threads "$CONN_THREADS" --seconds "$CONN_SECONDS" "$@") ||
    fail "tls-connect $key failed"
  c1=$(cpu_s "$COLLECTOR")
  n=$(echo "$out" | field connections)
  [ "$(echo "$out" | field errors)" = 0 ] || fail "tls-connect $key: errors: $out"
  [ "$n" -gt 0 ] || fail "tls-connect $key: no connection"
  put connect "$key.per_s" "$(echo "$out" | field per_s)"
  put connect "$key.p99_ms" "$(echo "$out" | field p99_ms)"
  put connect "$key.cpu_ms_per_conn" "$(echo "($c1 - $c0) * 1000 / $n" | bc -l)"
  log "connect $key: $out; collector $(printf %.3f "$(echo "($c1 - $c0) * 1000 / $n" | bc -l)") ms CPU per connection (load $(load))"
}

scen_connect() {
  start_collector
  if [ $((rep % 2)) = 1 ]; then
    connect_run tcp --addr "$PLAIN"
    connect_run tls --addr "$SSL" --ca-file "$CA"
  else
    connect_run tls --addr "$SSL" --ca-file "$CA"
    connect_run tcp --addr "$PLAIN"
  fi
  # While producing: an rdkafka producer on the plaintext listener for the
  # whole window (more records than it can send; stopped after).
  "$BIN/logship-bench" kafka-produce --bootstrap-server "$PLAIN" --topic busy --records 1000000000 \
    --record-bytes 1024 --acks all > /dev/null 2>&1 &
  local prod=$! t0 t1 o0 o1
  PIDS+=("$prod")
  sleep 1
  t0=$(date +%s.%N)
  o0=$(curl -sf "http://$CHTTP/metrics" | awk '/^logship_collector_log_appended_records_total\{topic="busy"/ {s += $NF} END {printf "%d", s}')
  connect_run tls_busy --addr "$SSL" --ca-file "$CA"
  o1=$(curl -sf "http://$CHTTP/metrics" | awk '/^logship_collector_log_appended_records_total\{topic="busy"/ {s += $NF} END {printf "%d", s}')
  t1=$(date +%s.%N)
  kill -0 "$prod" 2>/dev/null || fail "the producer stopped during the connection run"
  kill "$prod" 2>/dev/null || true
  wait "$prod" 2>/dev/null || true
  put connect busy_produce_rps "$(echo "($o1 - $o0) / ($t1 - $t0)" | bc -l)"
  log "connect: producer appended $((o1 - o0)) records meanwhile"
  stop_collector
}

scram_run() { # KEY ARGS...
  local key=$1 out c0 c1 n
  shift
  c0=$(cpu_s "$COLLECTOR")
  out=$("$BIN/logship-bench" scram-auth --user bench --password-file "$work/password" --clients "$CLIENTS" "$@") ||
    fail "scram-auth $key failed"
  c1=$(cpu_s "$COLLECTOR")
  n=$(echo "$out" | field connections)
  [ "$(echo "$out" | field errors)" = 0 ] && [ "$n" = "$CLIENTS" ] || fail "scram-auth $key: $out"
  put scram "$key.secs" "$(echo "$out" | field secs)"
  put scram "$key.p99_ms" "$(echo "$out" | field p99_ms)"
  put scram "$key.cpu_ms_per_client" "$(echo "($c1 - $c0) * 1000 / $n" | bc -l)"
  log "scram $key: $out; collector $(printf %.3f "$(echo "($c1 - $c0) * 1000 / $n" | bc -l)") ms CPU per client (load $(load))"
}

scen_scram() {
  start_collector
  if [ $((rep % 2)) = 1 ]; then
    scram_run sasl_plaintext --addr "$SASL"
    scram_run sasl_ssl --addr "$SASL_SSL" --ca-file "$CA"
  else
    scram_run sasl_ssl --addr "$SASL_SSL" --ca-file "$CA"
    scram_run sasl_plaintext --addr "$SASL"
  fi
  scram_run sasl_ssl_client_pbkdf2 --addr "$SASL_SSL" --ca-file "$CA" --pbkdf2-per-client
  stop_collector
}

log "machine: $(nproc) cores ($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n1)), load $(load); binaries $BIN"
START_LOAD=$(load)
for rep in $(seq "$REPS"); do
  for s in $SCENARIOS; do
    [ "$s" = agent ] && continue
    declare -F "scen_$s" > /dev/null || fail "unknown scenario $s"
    log "== repetition $rep/$REPS: $s (load $(load))"
    "scen_$s"
  done
done
rep=0
case " $SCENARIOS " in *" agent "*) scen_agent ;; esac
END_LOAD=$(load)

[ -n "${KEEP_RAW:-}" ] && cp "$results" "$KEEP_RAW"

SMOKE=$SMOKE python3 - "$results" "$REPS" "$RECORDS" "$CLIENTS" "$CONN_SECONDS" "$CONN_THREADS" "$START_LOAD" "$END_LOAD" <<'PY'
import os, statistics, sys
smoke = os.environ.get("SMOKE") == "1"
path, reps, records, clients, conn_secs, conn_threads, load0, load1 = sys.argv[1:]
rows = [l.split("\t") for l in open(path).read().split("\n") if l]

def per_rep(scen, key):
    return {r[0]: float(r[3]) for r in rows if r[1] == scen and r[2] == key}

def vals(scen, key):
    return list(per_rep(scen, key).values())

def ratio(scen, num, den):
    a, b = per_rep(scen, num), per_rep(scen, den)
    return [a[k] / b[k] for k in a if k in b and b[k]]

def cell(v, f="{:,.0f}"):
    if not v:
        return "-", "-"
    return f.format(statistics.median(v)), f"{f.format(min(v))}-{f.format(max(v))}"

out = [("SMOKE run: tiny sizes, targets not judged. " if smoke else "") + f"{reps} repetition(s), medians with min-max; load average {load0} at the start, {load1} at the end.\n",
       "| scenario | measurement | median | min-max | target | result |", "|---|---|---:|---:|---|---|"]
def row(scen, label, v, f="{:,.0f}", target="-", ok=None):
    m, r = cell(v, f)
    # Smoke runs are too small (and a debug build) to judge a target.
    res = "-" if ok is None or not v or smoke else ("**met**" if ok(statistics.median(v)) else "**not met**")
    out.append(f"| {scen} | {label} | {m} | {r} | {target} | {res} |")

def produce_consume(scen, broker, target, label=None):
    r = lambda *a, **k: row(label or scen, *a, **k)
    for what in ("produce", "consume"):
        r(f"{what}, 1 KiB records, plaintext (records/s)", vals(scen, f"plain.{what}_rps"))
        r(f"{what}, 1 KiB records, ssl (records/s)", vals(scen, f"ssl.{what}_rps"))
        if target:
            r(f"{what}: ssl / plaintext", ratio(scen, f"ssl.{what}_rps", f"plain.{what}_rps"), "{:.2f}", ">= 0.8", lambda x: x >= 0.8)
        else:
            r(f"{what}: ssl / plaintext", ratio(scen, f"ssl.{what}_rps", f"plain.{what}_rps"), "{:.2f}", "(reference)")
        r(f"{what}: {broker} CPU s per GB, plaintext", vals(scen, f"plain.{what}_cpu_per_gb"), "{:.2f}")
        r(f"{what}: {broker} CPU s per GB, ssl", vals(scen, f"ssl.{what}_cpu_per_gb"), "{:.2f}")
        r(f"{what}: {broker} CPU per byte, ssl / plaintext", ratio(scen, f"ssl.{what}_cpu_per_gb", f"plain.{what}_cpu_per_gb"), "{:.2f}")
        r(f"{what}: client CPU s per GB, plaintext", vals(scen, f"plain.{what}_client_cpu_per_gb"), "{:.2f}")
        r(f"{what}: client CPU s per GB, ssl", vals(scen, f"ssl.{what}_client_cpu_per_gb"), "{:.2f}")
if vals("kafka", "plain.produce_rps"):
    produce_consume("kafka", "collector", True)
# Apache Kafka: the same runs, a reference for the ratios above, no target.
if vals("apache-defaults", "plain.produce_rps"):
    produce_consume("apache-defaults", "Kafka", False, "Apache Kafka, defaults")
if vals("apache-flush", "plain.produce_rps"):
    produce_consume("apache-flush", "Kafka", False, "Apache Kafka, flush.messages=1")
if vals("agent", "gzip.MBps"):
    row("agent", "gzip, plain http (MB/s end to end)", vals("agent", "gzip.MBps"), "{:.1f}")
    row("agent", "gzip, https + mutual TLS (MB/s end to end)", vals("agent", "mtls-gzip.MBps"), "{:.1f}")
    row("agent", "https + mTLS / http", ratio("agent", "mtls-gzip.MBps", "gzip.MBps"), "{:.2f}", ">= 0.9", lambda x: x >= 0.9)
    row("agent", "agent CPU s, plain http", vals("agent", "gzip.agent_cpu"), "{:.2f}")
    row("agent", "agent CPU s, https + mTLS", vals("agent", "mtls-gzip.agent_cpu"), "{:.2f}")
    row("agent", "collector CPU s, plain http", vals("agent", "gzip.coll_cpu"), "{:.2f}")
    row("agent", "collector CPU s, https + mTLS", vals("agent", "mtls-gzip.coll_cpu"), "{:.2f}")
if vals("connect", "tcp.per_s"):
    lab = f"{conn_threads} client threads, {conn_secs} s"
    row("connect", f"new plain TCP connections + ApiVersions per s, idle ({lab})", vals("connect", "tcp.per_s"))
    row("connect", f"new TLS connections (full handshake) + ApiVersions per s, idle", vals("connect", "tls.per_s"))
    row("connect", "new TLS connections per s while producing", vals("connect", "tls_busy.per_s"), target=">= 1,000", ok=lambda x: x >= 1000)
    row("connect", "... the producer's rate meanwhile (1 KiB records/s)", vals("connect", "busy_produce_rps"))
    row("connect", "... TLS connection p99 while producing (ms)", vals("connect", "tls_busy.p99_ms"), "{:.1f}")
    row("connect", "collector CPU ms per plain connection", vals("connect", "tcp.cpu_ms_per_conn"), "{:.3f}")
    row("connect", "collector CPU ms per TLS connection", vals("connect", "tls.cpu_ms_per_conn"), "{:.3f}")
    a, b = per_rep("connect", "tls.cpu_ms_per_conn"), per_rep("connect", "tcp.cpu_ms_per_conn")
    row("connect", "handshake cost: collector CPU ms per TLS connection minus plain", [a[k] - b[k] for k in a if k in b], "{:.3f}")
if vals("scram", "sasl_plaintext.secs"):
    row("scram", f"{clients} clients, SCRAM-SHA-512 on sasl_plaintext (s)", vals("scram", "sasl_plaintext.secs"), "{:.2f}", "< 5", lambda x: x < 5)
    row("scram", f"{clients} clients, SCRAM-SHA-512 on sasl_ssl (s)", vals("scram", "sasl_ssl.secs"), "{:.2f}", "< 5", lambda x: x < 5)
    row("scram", f"{clients} clients on sasl_ssl, client PBKDF2 per connection (s)", vals("scram", "sasl_ssl_client_pbkdf2.secs"), "{:.2f}")
    row("scram", "collector CPU ms per client, sasl_plaintext", vals("scram", "sasl_plaintext.cpu_ms_per_client"), "{:.3f}")
    row("scram", "collector CPU ms per client, sasl_ssl", vals("scram", "sasl_ssl.cpu_ms_per_client"), "{:.3f}")
print("\n".join(out))
PY
