# Shell functions shared by bench/kafka.sh, bench/apache-kafka.sh and
# bench/tls.sh; sourced from the repository's root. They use the caller's
# $BIN (directory of the logship binaries) and $work (scratch directory).

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

# ----- Apache Kafka from the jars .ci/setup installs (.ci/java/classpath.txt)

# Sets CP and writes the log4j2 configurations: the tools log warnings to
# stderr, the broker logs to $work/kafka.log.
kafka_init() {
  CP=$(cat .ci/java/classpath.txt)
  printf 'status = warn\nappender.out.type = Console\nappender.out.target = SYSTEM_ERR\nappender.out.name = out\nappender.out.layout.type = PatternLayout\nappender.out.layout.pattern = [%%d] %%p %%m (%%c)%%n\nrootLogger.level = warn\nrootLogger.appenderRef.out.ref = out\n' > "$work/tools-log4j2.properties"
  printf 'status = warn\nappender.out.type = File\nappender.out.fileName = %s\nappender.out.name = out\nappender.out.layout.type = PatternLayout\nappender.out.layout.pattern = [%%d] %%p %%m (%%c)%%n\nrootLogger.level = info\nrootLogger.appenderRef.out.ref = out\n' "$work/kafka.log" > "$work/kafka-log4j2.properties"
}

# A Kafka tool's main class, run from the jars.
jtool() { java -Xmx512m -Dlog4j2.configurationFile="$work/tools-log4j2.properties" -cp "$CP" "$@"; }

# Starts one fresh Apache Kafka node (KRaft, broker and controller in one
# JVM, -Xmx1g -Xms1g as kafka-server-start.sh gives it, every other setting
# at Kafka's default) with its data in $work/kdata: a PLAINTEXT listener on
# PLAIN (host:port), the controller on the next port, and, given SSL and
# KEYSTORE, an SSL listener there (no client authentication) whose key
# store is KEYSTORE: a PEM file holding the unencrypted PKCS#8 private key
# and the certificate chain. Sets KAFKA_PID.
start_kafka() { # PLAIN [SSL KEYSTORE]
  local plain=$1 ssl=${2:-} keystore=${3:-}
  local controller=${plain%:*}:$((${plain##*:} + 1))
  local listeners="PLAINTEXT://$plain" map="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  [ -n "$ssl" ] && { listeners="$listeners,SSL://$ssl"; map="$map,SSL:SSL"; }
  rm -rf "$work/kdata" "$work/kafka.log"
  cat > "$work/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$controller
listeners=$listeners,CONTROLLER://$controller
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$map
log.dirs=$work/kdata
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
PROPS
  if [ -n "$ssl" ]; then
    printf 'ssl.keystore.type=PEM\nssl.keystore.location=%s\nssl.client.auth=none\n' "$keystore" >> "$work/server.properties"
  fi
  jtool kafka.tools.StorageTool format -t bG9nc2hpcC1iZW5jaDAwMQ -c "$work/server.properties" > /dev/null
  java -Xmx1g -Xms1g -Dlog4j2.configurationFile="$work/kafka-log4j2.properties" -cp "$CP" \
    kafka.Kafka "$work/server.properties" > /dev/null 2>> "$work/kafka-stderr.log" &
  KAFKA_PID=$!
  for _ in $(seq 1200); do
    grep -q "Kafka Server started" "$work/kafka.log" 2> /dev/null && return
    kill -0 "$KAFKA_PID" 2> /dev/null || break
    sleep 0.1
  done
  echo "Kafka did not start" >&2; tail -n 20 "$work/kafka.log" "$work/kafka-stderr.log" >&2; exit 1
}

# Stops the node; KAFKA_RSS_KB is its peak RSS.
stop_kafka() {
  KAFKA_RSS_KB=$(peak_rss_kb "$KAFKA_PID")
  kill "$KAFKA_PID"; wait "$KAFKA_PID" || true
}
