#!/usr/bin/env bash
# Metrics-scrape benchmark (issue: agent metrics sources): a release agent
# scrapes TARGETS Prometheus pages of SERIES series each every INTERVAL into
# a release collector; Debian's Prometheus server scrapes the same targets at
# the same interval in the same run, as the baseline. For each it reports CPU
# as a percentage of one core over MEASURE seconds (after one warm-up
# interval), and peak and current RSS.
#
# The targets are one static page (counters, gauges and a histogram) served
# by python3's http.server on 127.0.0.1; they differ by query string
# (`?t=N`), and Prometheus gets one job per target with `params`, so both
# scrape TARGETS distinct URLs.
#
#   bash bench/scrape.sh                       # 100 targets x 1000 series, 10s, 120s measured
#   QUICK=1 bash bench/scrape.sh               # 20s measured
#   TARGETS=200 SERIES=500 bash bench/scrape.sh
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=${TARGETS:-100}
SERIES=${SERIES:-1000}
INTERVAL=${INTERVAL:-10}
MEASURE=${MEASURE:-120}
if [ "${QUICK:-0}" = 1 ]; then MEASURE=20; fi

if [ -n "${BIN_DIR:-}" ]; then
  BIN=$(cd "$BIN_DIR" && pwd)
else
  cargo build --release --quiet --bin logship
  BIN=$PWD/target/release
fi
command -v prometheus >/dev/null || { echo "needs Debian's prometheus package (bash .ci/setup installs it)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/logship-scrape-bench.XXXXXX")
trap 'pkill -P $$ || true; wait 2>/dev/null; rm -rf "$work"' EXIT
TCK=$(getconf CLK_TCK)
PAGE_PORT=19950
CHTTP=127.0.0.1:19951
KAFKA=127.0.0.1:19952
AHTTP=127.0.0.1:19953
PROM=127.0.0.1:19954

cpu_s() { awk -v t="$TCK" '{ sub(/^.*\) /, ""); printf "%.3f", ($12 + $13) / t }' "/proc/$1/stat"; }
kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
wait_for() { # FILE TEXT
  for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return; sleep 0.1; done
  echo "timed out waiting for '$2' in $1" >&2; tail -n 20 "$1" >&2; exit 1
}

# The page: SERIES series in three kinds of families.
mkdir -p "$work/www"
python3 - "$SERIES" > "$work/www/metrics.txt" <<'PY'
import sys
n = int(sys.argv[1])
out = []
left = n
# A histogram of 10 label values x (12 buckets + sum + count) = 140 series.
hist = min(10, max(0, left // 14))
if hist:
    out.append("# HELP app_request_duration_seconds Request latency.")
    out.append("# TYPE app_request_duration_seconds histogram")
    for h in range(hist):
        acc = 0
        for le in ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]:
            acc += 7 + h
            out.append(f'app_request_duration_seconds_bucket{{handler="/api/v{h}",le="{le}"}} {acc}')
        out.append(f'app_request_duration_seconds_sum{{handler="/api/v{h}"}} {acc * 0.042:.3f}')
        out.append(f'app_request_duration_seconds_count{{handler="/api/v{h}"}} {acc}')
    left -= hist * 14
fam = 0
while left > 0:
    kind = "counter" if fam % 2 == 0 else "gauge"
    name = f"app_family_{fam}_total" if kind == "counter" else f"app_family_{fam}"
    out.append(f"# HELP {name} Synthetic family {fam}.")
    out.append(f"# TYPE {name} {kind}")
    for i in range(min(50, left)):
        out.append(f'{name}{{instance_id="{i}",zone="z{i % 3}",method="GET"}} {fam * 1000 + i * 1.5}')
    left -= min(50, left)
    fam += 1
print("\n".join(out))
PY
series=$(grep -vc '^#' "$work/www/metrics.txt")
python3 -m http.server "$PAGE_PORT" --bind 127.0.0.1 --directory "$work/www" > "$work/http.log" 2>&1 &
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PAGE_PORT/metrics.txt" >/dev/null && break; sleep 0.1; done

cat > "$work/c.yaml" <<YAML
collector:
  data_dir: $work/cdata
  kafka: {listen: $KAFKA}
  http: {listen: $CHTTP}
YAML
"$BIN/logship" run --config "$work/c.yaml" 2> "$work/collector.log" &
COLLECTOR=$!
wait_for "$work/collector.log" "collector ready"

{
  echo "agent:"
  echo "  data_dir: $work/adata"
  echo "  http: {listen: $AHTTP}"
  echo "  sources:"
  echo "    scrape:"
  echo "      type: prometheus_scrape"
  echo "      interval: ${INTERVAL}s"
  echo "      timeout: 5s"
  echo "      topic: metrics"
  echo "      targets:"
  for i in $(seq "$TARGETS"); do echo "        - http://127.0.0.1:$PAGE_PORT/metrics.txt?t=$i"; done
  echo "  sink:"
  echo "    type: collector"
  echo "    url: http://$CHTTP"
} > "$work/a.yaml"
{
  echo "global: {scrape_interval: ${INTERVAL}s, scrape_timeout: 5s}"
  echo "scrape_configs:"
  for i in $(seq "$TARGETS"); do
    echo "  - job_name: t$i"
    echo "    metrics_path: /metrics.txt"
    echo "    params: {t: ['$i']}"
    echo "    static_configs: [{targets: ['127.0.0.1:$PAGE_PORT']}]"
  done
} > "$work/prometheus.yml"

"$BIN/logship" run --config "$work/a.yaml" 2> "$work/agent.log" &
AGENT=$!
wait_for "$work/agent.log" "agent ready"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prom" \
  --web.listen-address="$PROM" > "$work/prometheus.log" 2>&1 &
PROMETHEUS=$!
wait_for "$work/prometheus.log" "Server is ready to receive web requests"

# One interval of warm-up (first scrapes, topic creation, TSDB head), then
# the measured window.
sleep "$((INTERVAL + 2))"
a0=$(cpu_s "$AGENT"); p0=$(cpu_s "$PROMETHEUS")
s0=$(curl -sf "http://$AHTTP/metrics" | awk '/^logship_agent_samples_total/ {s += $NF} END {print s + 0}')
sleep "$MEASURE"
a1=$(cpu_s "$AGENT"); p1=$(cpu_s "$PROMETHEUS")
s1=$(curl -sf "http://$AHTTP/metrics" | awk '/^logship_agent_samples_total/ {s += $NF} END {print s + 0}')
m=$(curl -sf "http://$AHTTP/metrics")
errors=$(echo "$m" | awk '/^logship_agent_scrape_errors_total/ {s += $NF} END {print s + 0}')
dropped=$(echo "$m" | awk '/^logship_agent_samples_dropped_total/ {s += $NF} END {print s + 0}')
sent=$(echo "$m" | awk '/^logship_agent_sink_records_total/ {s += $NF} END {print s + 0}')
appended=$(curl -sf "http://$CHTTP/metrics" | awk '/^logship_collector_log_appended_records_total\{topic="metrics"\}/ {print $NF}')
up=$(curl -sf "http://$PROM/api/v1/query?query=count(up==1)" | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)')

pct() { echo "scale=2; 100 * ($2 - $1) / $MEASURE" | bc -l; }
agent_pct=$(pct "$a0" "$a1"); prom_pct=$(pct "$p0" "$p1")
rate=$(echo "scale=0; ($s1 - $s0) / $MEASURE" | bc -l)
echo
echo "scrape: $TARGETS targets x $series series every ${INTERVAL}s; ${MEASURE}s measured; $(nproc) cores, $(uname -r)"
echo
echo "| | CPU (% of one core) | peak RSS (MiB) | RSS now (MiB) |"
echo "|---|---|---|---|"
printf '| logship agent | %s | %.1f | %.1f |\n' "$agent_pct" "$(echo "$(kb "$AGENT" VmHWM) / 1024" | bc -l)" "$(echo "$(kb "$AGENT" VmRSS) / 1024" | bc -l)"
printf '| Prometheus %s (baseline) | %s | %.1f | %.1f |\n' "$(prometheus --version 2>&1 | awk 'NR==1 {print $3}')" "$prom_pct" "$(echo "$(kb "$PROMETHEUS" VmHWM) / 1024" | bc -l)" "$(echo "$(kb "$PROMETHEUS" VmRSS) / 1024" | bc -l)"
echo
echo "agent/Prometheus CPU ratio: $(echo "scale=2; $agent_pct / $prom_pct" | bc -l)"
echo "agent samples/s: $rate (expected $((TARGETS * series / INTERVAL))); scrape errors $errors; dropped $dropped; sent $sent; collector appended $appended; Prometheus targets up: $up"
if [ "$errors" != 0 ] || [ "$dropped" != 0 ]; then
  echo "FAIL: scrape errors or dropped samples" >&2; grep -m3 "scrape failed" "$work/agent.log" >&2 || true; exit 1
fi
