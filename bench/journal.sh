#!/usr/bin/env bash
# Journal benchmark (issue 16): ENTRIES journal entries (logship-bench
# gen-journal, through systemd-journal-remote into real journal files) shipped
# by a release agent's journald source (journal_directory, since: beginning,
# every priority) into a release collector, end to end: from the agent's start
# until the collector acknowledged the last entry. The baseline, timed in the
# same repetition over the same files, is what just reading them costs:
# `journalctl --directory DIR --output=export > /dev/null` (before the agent
# in odd repetitions, after it in even ones). Targets: the
# agent at least 0.7x the baseline's entries/s, agent peak RSS at most 48 MiB
# (its journalctl child is reported beside it).
#
#   bash bench/journal.sh                     # 1,000,000 entries, 3 repetitions
#   QUICK=1 bash bench/journal.sh             # 100,000 entries, 1 repetition
#   ENTRIES=200000 CODEC=zstd bash bench/journal.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ENTRIES=${ENTRIES:-1000000}
REPS=${REPS:-3}
CODEC=${CODEC:-lz4}
if [ "${QUICK:-0}" = 1 ]; then ENTRIES=100000; REPS=1; fi
REMOTE=/lib/systemd/systemd-journal-remote

if [ -n "${BIN_DIR:-}" ]; then
  BIN=$(cd "$BIN_DIR" && pwd)
else
  cargo build --release --quiet --bin logship --bin logship-bench
  BIN=$PWD/target/release
fi
[ -x "$REMOTE" ] || { echo "needs Debian's systemd-journal-remote (bash .ci/setup installs it)" >&2; exit 1; }
command -v journalctl >/dev/null || { echo "needs journalctl (systemd)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/logship-journal-bench.XXXXXX")
trap 'pkill -P $$ || true; wait 2>/dev/null; rm -rf "$work"' EXIT
CHTTP=127.0.0.1:19961
KAFKA=127.0.0.1:19962
AHTTP=127.0.0.1:19963

kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
now() { date +%s.%N; }
wait_for() { # FILE TEXT
  for _ in $(seq 300); do grep -q "$2" "$1" 2>/dev/null && return; sleep 0.1; done
  echo "timed out waiting for '$2' in $1" >&2; tail -n 20 "$1" >&2; exit 1
}
# Entries the agent shipped (acknowledged by the collector); 0 while its
# HTTP port is not up yet.
shipped() {
  { curl -sf "http://$AHTTP/metrics" || true; } | awk '/^logship_agent_journal_entries_shipped_total/ {s += $NF} END {print s + 0}'
}

mkdir -p "$work/journal"
t0=$(now)
"$BIN/logship-bench" gen-journal --entries "$ENTRIES" \
  | "$REMOTE" --output="$work/journal/system.journal" --split-mode=none - 2> "$work/remote.log"
gen_s=$(echo "$(now) - $t0" | bc -l)
export_bytes=$(journalctl --directory "$work/journal" --output=export | wc -c)
journal_mib=$(du -m "$work/journal" | awk '{print $1}')

baseline() {
  local t0
  t0=$(now)
  journalctl --directory "$work/journal" --output=export > /dev/null
  base_s=$(echo "$(now) - $t0" | bc -l)
}

rows=()
loads=()
for rep in $(seq "$REPS"); do
  loads+=("$(uptime | sed 's/.*load average: //')")
  # Baseline: journalctl reading the same files, output discarded; before
  # the agent in odd repetitions, after it in even ones (the load of a
  # shared machine drifts).
  [ $((rep % 2)) = 1 ] && baseline
  rm -rf "$work/cdata" "$work/adata"
  cat > "$work/c.yaml" <<YAML
collector:
  data_dir: $work/cdata
  kafka: {listen: $KAFKA}
  http: {listen: $CHTTP}
YAML
  cat > "$work/a.yaml" <<YAML
agent:
  data_dir: $work/adata
  http: {listen: $AHTTP}
  sources:
    journal:
      type: journald
      journal_directory: $work/journal
      since: beginning
      priority: debug
      topic: journal
  sink:
    type: collector
    url: http://$CHTTP
    compression: $CODEC
YAML
  "$BIN/logship" run --config "$work/c.yaml" 2> "$work/collector.log" &
  COLLECTOR=$!
  wait_for "$work/collector.log" "collector ready"
  t0=$(now)
  "$BIN/logship" run --config "$work/a.yaml" 2> "$work/agent.log" &
  AGENT=$!
  child_hwm=0 last=-1 since=$(now)
  while n=$(shipped); [ "$n" -lt "$ENTRIES" ]; do
    kill -0 "$AGENT" 2>/dev/null || { echo "agent died" >&2; tail -n 20 "$work/agent.log" >&2; exit 1; }
    # No progress for a minute: a filter dropped entries, or the agent hangs.
    if [ "$n" != "$last" ]; then last=$n since=$(now)
    elif [ "$(echo "$(now) - $since > 60" | bc)" = 1 ]; then
      echo "FAIL: stuck at $n of $ENTRIES entries shipped" >&2; tail -n 20 "$work/agent.log" >&2; exit 1
    fi
    child=$(pgrep -P "$AGENT" journalctl || true)
    if [ -n "$child" ]; then
      h=$(kb "$child" VmHWM 2>/dev/null || echo 0)
      [ "${h:-0}" -gt "$child_hwm" ] && child_hwm=$h
    fi
    sleep 0.05
  done
  agent_s=$(echo "$(now) - $t0" | bc -l)
  agent_hwm=$(kb "$AGENT" VmHWM)
  appended=$(curl -sf "http://$CHTTP/metrics" | awk '/^logship_collector_log_appended_records_total\{topic="journal"\}/ {print $NF}')
  kill "$AGENT" "$COLLECTOR"; wait "$AGENT" "$COLLECTOR" 2>/dev/null || true
  [ $((rep % 2)) = 0 ] && baseline
  if [ "${appended%.*}" != "$ENTRIES" ]; then
    echo "FAIL: the collector holds $appended records, not $ENTRIES" >&2; exit 1
  fi
  base_rate=$(echo "$ENTRIES / $base_s" | bc -l)
  agent_rate=$(echo "$ENTRIES / $agent_s" | bc -l)
  rows+=("$(printf '%d %.0f %.0f %.2f %.1f %.1f' "$rep" "$base_rate" "$agent_rate" \
    "$(echo "$agent_rate / $base_rate" | bc -l)" "$(echo "$agent_hwm / 1024" | bc -l)" "$(echo "$child_hwm / 1024" | bc -l)")")
done

echo
echo "journal: $ENTRIES entries, $((export_bytes / 1048576)) MiB of export output, $journal_mib MiB of journal files (generated in $(printf %.1f "$gen_s") s); codec $CODEC; $(nproc) cores, $(uname -r), $(journalctl --version | head -1)"
echo "load averages (1, 5, 15 min) at the start of each repetition and at the end: $(printf '%s; ' "${loads[@]}" "$(uptime | sed 's/.*load average: //')")"
echo
echo "| rep | journalctl export > /dev/null (entries/s) | agent -> collector (entries/s) | ratio | agent peak RSS (MiB) | its journalctl peak RSS (MiB) |"
echo "|---|---|---|---|---|---|"
for r in "${rows[@]}"; do
  set -- $r
  echo "| $1 | $2 | $3 | $4 | $5 | $6 |"
done
med() { printf '%s\n' "${rows[@]}" | awk -v c="$1" '{print $c}' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio=$(med 4); rss=$(med 5)
echo
echo "median ratio $ratio (target >= 0.7), median agent peak RSS $rss MiB (target <= 48)"
ok=1
awk -v r="$ratio" 'BEGIN {exit !(r >= 0.7)}' || { echo "target not met: ratio" >&2; ok=0; }
awk -v m="$rss" 'BEGIN {exit !(m <= 48)}' || { echo "target not met: RSS" >&2; ok=0; }
[ "$ok" = 1 ]
