#!/usr/bin/env bash
# Side-by-side benchmarks: every scenario of the benchmark issue, several
# repetitions each, reported as medians with min-max spreads and as ratios
# against baselines measured in the same run, plus PNG charts (gnuplot).
# It drives the other scripts and parses what they keep:
#
#   storage   bench/storage.sh: appends and reads of the storage engine beside
#             dd and cat, and start-up with 1,000 partitions (in-process)
#   kafka     per repetition: `dd bs=1M conv=fdatasync` and page-cache `cat`
#             baselines, then bench/kafka.sh (rdkafka produce, acks=all,
#             and consume; 100 B and 1 KiB records)
#   agent     bench/agent.sh end to end (gzip, zstd, lz4, and the Kafka sink
#             with lz4) on access-log and JSON application-log files, beside
#             `gzip -1` / `zstd -1` / `lz4 -1` on the same file in the same
#             repetition
#   rsyslog   bench/rsyslog.sh: the same files shipped by logship and by
#             rsyslog (imfile -> omkafka) into the same collector
#   latency   bench/agent.sh's write -> consume latency at each of LAT_RATES
#   resources bench/agent.sh's 1,000-file fan-out, then the same agent idle
#             (full-load RSS and CPU come from the agent scenario)
#   startup   bench/startup.sh: collector start-up with 1,000 partitions and
#             GBs of data after clean and unclean stops
#   tls       bench/tls.sh: Kafka produce/consume over ssl vs plaintext, the
#             agent over https + mutual TLS vs http, new TLS connections/s
#             while producing, SCRAM authentication of many clients
#
#   bash bench/run.sh              # full: REPS=3, release build, appends a dated
#                                  # section to bench/history/YYYY-MM-DD.md, charts to
#                                  # bench/charts/; the current tables in bench/RESULTS.md
#                                  # are then updated by hand (bench/README.md)
#   SMOKE=1 bash bench/run.sh      # CI: tiny data, 1 repetition, every scenario,
#                                  # no history, charts in a scratch directory;
#                                  # exits non-zero if any scenario breaks
#   SCENARIOS="rsyslog startup" bash bench/run.sh
#
# It installs what it needs from Debian when missing (rsyslog, rsyslog-kafka,
# kcat, gnuplot-nox, curl, bc, zstd, lz4), with a policy-rc.d that keeps the
# rsyslog service from starting; it never touches the system rsyslog config.
# Everything listens on 127.0.0.1. Environment (full / smoke defaults):
#   REPS 3/1; SIZE_MIB 512/4 (agent and rsyslog files); RECORDS 2000000/20000
#   (Kafka records of 100 B, a quarter as many of 1 KiB); DD_MIB 1024/32;
#   APPEND_MIB 512/16 (kafka.sh's storage baseline); LAT_RATES "1 10 50" /
#   "1 5 10" MB/s; LAT_SECONDS 10/2; FAN_FILES 1000/1000; FAN_RATE 5000/1000;
#   FAN_SECONDS 20/3; FAN_IDLE_SECONDS 10/2; PARTITIONS 1000/1000;
#   DATA_MIB 3072/64; LOAD_SECONDS 1/1; STORAGE_MIB 1024/16 (MiB per append
#   run); SCENARIOS all; PROFILE release/debug
#   (smoke reuses the debug build `cargo test` made; set PROFILE=release to
#   smoke the release build); BIN_DIR (use these binaries, no cargo);
#   RESULTS 1/0 (append to bench/history/); CHARTS_DIR bench/charts / a
#   scratch directory; INSTALL 1 (0: fail instead of installing);
#   REV_NOTE (a note on the build recorded with the versions); KEEP_DIR (copy
#   the raw outputs, logs and tables here at the end); REPLOT=DIR (run no
#   scenario: redraw the tables and charts from a KEEP_DIR, with the same
#   settings as that run); TMPDIR.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C
ROOT=$PWD

SMOKE=${SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
  : "${REPS:=1}" "${SIZE_MIB:=4}" "${RECORDS:=20000}" "${DD_MIB:=32}" "${APPEND_MIB:=16}"
  : "${LAT_RATES:=1 5 10}" "${LAT_SECONDS:=2}" "${FAN_FILES:=1000}" "${FAN_RATE:=1000}"
  : "${FAN_SECONDS:=3}" "${FAN_IDLE_SECONDS:=2}" "${DATA_MIB:=64}" "${PROFILE:=debug}" "${RESULTS:=0}"
  : "${STORAGE_MIB:=16}"
fi
REPS=${REPS:-3}
SIZE_MIB=${SIZE_MIB:-512}
RECORDS=${RECORDS:-2000000}
DD_MIB=${DD_MIB:-1024}
APPEND_MIB=${APPEND_MIB:-512}
LAT_RATES=${LAT_RATES:-1 10 50}
LAT_SECONDS=${LAT_SECONDS:-10}
FAN_FILES=${FAN_FILES:-1000}
FAN_RATE=${FAN_RATE:-5000}
FAN_SECONDS=${FAN_SECONDS:-20}
FAN_IDLE_SECONDS=${FAN_IDLE_SECONDS:-10}
PARTITIONS=${PARTITIONS:-1000}
DATA_MIB=${DATA_MIB:-3072}
LOAD_SECONDS=${LOAD_SECONDS:-1}
STORAGE_MIB=${STORAGE_MIB:-1024}
SCENARIOS=${SCENARIOS:-storage kafka agent rsyslog latency resources startup tls}
PROFILE=${PROFILE:-release}
RESULTS=${RESULTS:-1}
INSTALL=${INSTALL:-1}
if [ -n "${REPLOT:-}" ]; then
  REPLOT=$(cd "$REPLOT" && pwd)
  SCENARIOS=
  RESULTS=0
fi

log() { echo "run.sh: $*" >&2; }
die() { log "$*"; exit 1; }
now() { date +%s.%N; }

# ---------------------------------------------------------------------------
# Dependencies (Debian packages).
missing=()
command -v gnuplot > /dev/null || missing+=(gnuplot-nox)
command -v bc > /dev/null || missing+=(bc)
if [ -z "${REPLOT:-}" ]; then
  command -v rsyslogd > /dev/null || missing+=(rsyslog)
  compgen -G "/usr/lib/*/rsyslog/omkafka.so" > /dev/null || missing+=(rsyslog-kafka)
  command -v kcat > /dev/null || missing+=(kcat)
  command -v curl > /dev/null || missing+=(curl)
  command -v zstd > /dev/null || missing+=(zstd)
  command -v lz4 > /dev/null || missing+=(lz4)
fi
if [ ${#missing[@]} -gt 0 ]; then
  [ "$INSTALL" = 1 ] || die "missing packages: ${missing[*]} (INSTALL=0)"
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # A policy-rc.d answering 101 keeps invoke-rc.d / deb-systemd-invoke from
  # starting the packaged rsyslog service (as .ci/setup does for prometheus).
  made_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    made_policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' > "$made_policy"
    chmod +x "$made_policy"
    trap 'rm -f "$made_policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
  if [ -n "$made_policy" ]; then rm -f "$made_policy"; trap - EXIT; fi
fi
command -v python3 > /dev/null || die "needs python3"

# ---------------------------------------------------------------------------
# Binaries.
if [ -n "${REPLOT:-}" ]; then
  log "redrawing from $REPLOT"
  PROFILE_NOTE=
elif [ -n "${BIN_DIR:-}" ]; then
  BIN_DIR=$(cd "$BIN_DIR" && pwd)
  log "using binaries in $BIN_DIR"
  PROFILE_NOTE="binaries from $BIN_DIR"
else
  target_dir=${CARGO_TARGET_DIR:-$ROOT/target}
  if [ "$PROFILE" = release ]; then
    log "building release binaries"
    cargo build --release --quiet --bin logship --bin logship-bench
    BIN_DIR=$target_dir/release
  elif [ "$PROFILE" = debug ] || [ "$PROFILE" = dev ]; then
    log "building debug binaries (cargo test has usually built them already)"
    cargo build --quiet --bin logship --bin logship-bench
    BIN_DIR=$target_dir/debug
  else
    log "building $PROFILE binaries"
    cargo build --profile "$PROFILE" --quiet --bin logship --bin logship-bench
    BIN_DIR=$target_dir/$PROFILE
  fi
  PROFILE_NOTE="$PROFILE build in $BIN_DIR"
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/logship-run-bench.XXXXXX")
if [ -z "${REPLOT:-}" ]; then
  [ -x "$BIN_DIR/logship" ] && [ -x "$BIN_DIR/logship-bench" ] || die "no logship binaries in $BIN_DIR"
  # A private copy: a build in the shared target/ during the run must not
  # swap the binaries between scenarios.
  mkdir -p "$work/bin"
  cp "$BIN_DIR/logship" "$BIN_DIR/logship-bench" "$work/bin/"
  BIN_DIR=$work/bin
  export BIN_DIR
fi
SCEN_PID=
LOAD_PID=
# Kills a process and everything it started (only ever a scenario's subshell).
kill_tree() {
  local c
  for c in $(pgrep -P "$1" || true); do kill_tree "$c"; done
  kill "$1" 2>/dev/null || true
}
cleanup() {
  if [ -n "$SCEN_PID" ]; then kill_tree "$SCEN_PID"; fi
  if [ -n "$LOAD_PID" ]; then kill "$LOAD_PID" 2>/dev/null || true; fi
  if [ -n "${KEEP_DIR:-}" ]; then
    mkdir -p "$KEEP_DIR"
    cp "$work"/*.out "$work"/*.log "$work"/*.tsv "$work"/*.txt "$work"/*.md "$KEEP_DIR"/ 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ "$SMOKE" = 1 ]; then CHARTS_DIR=${CHARTS_DIR:-$work/charts}; else CHARTS_DIR=${CHARTS_DIR:-$ROOT/bench/charts}; fi
mkdir -p "$CHARTS_DIR"
: > "$work/commands.txt"
: > "$work/base.tsv"

# Runs a sub-script with env assignments, logging the command line for the
# record; its stdout goes to $work/NAME.out and stderr to $work/NAME.log.
sub() { # NAME VAR=VALUE... -- SCRIPT
  local name=$1; shift
  local -a env=()
  while [ "$1" != -- ]; do env+=("$1"); shift; done
  shift
  local a line=
  for a in "${env[@]}"; do line+="${a%%=*}=$(printf %q "${a#*=}") "; done
  echo "${line}bash $*" | sed "s|$work|\$WORK|g" >> "$work/commands.txt"
  env "${env[@]}" BIN_DIR="$BIN_DIR" bash "$@" >> "$work/$name.out" 2>> "$work/$name.log"
}

scen_storage() {
  log "storage: bench/storage.sh (append and read beside dd and cat, start-up)"
  sub storage REPS="$REPS" TOTAL_MIB="$STORAGE_MIB" DD_MIB="$DD_MIB" FSYNC_COUNTS=0 KEEP_RAW="$work/storage.raw" \
    -- bench/storage.sh
}

scen_kafka() {
  local rep out
  echo "dd if=/dev/zero of=\$WORK/dd.bin bs=1M count=$DD_MIB conv=fdatasync; cat \$WORK/dd.bin > /dev/null (twice, the second timed): before each kafka.sh run" >> "$work/commands.txt"
  for rep in $(seq "$REPS"); do
    log "kafka: repetition $rep/$REPS: dd + cat baselines"
    out=$(dd if=/dev/zero of="$work/dd.bin" bs=1M count="$DD_MIB" conv=fdatasync 2>&1)
    echo "$out" | sed -n "s/^\([0-9]*\) bytes .* copied, \([0-9.]*\) s.*/$rep\tdd_MBps\t\1 \2/p" |
      awk -F'\t' '{split($3, a, " "); printf "%s\t%s\t%.3f\n", $1, $2, a[1] / a[2] / 1e6}' >> "$work/base.tsv"
    cat "$work/dd.bin" > /dev/null
    local t0 t1
    t0=$(now); cat "$work/dd.bin" > /dev/null; t1=$(now)
    printf '%s\tcat_MBps\t%.3f\n' "$rep" "$(echo "$(stat -c %s "$work/dd.bin") / ($t1 - $t0) / 1000000" | bc -l)" >> "$work/base.tsv"
    rm -f "$work/dd.bin"
    log "kafka: repetition $rep/$REPS: bench/kafka.sh"
    sub kafka REPS=1 RECORDS="$RECORDS" APPEND_MIB="$APPEND_MIB" KEEP_RAW="$work/kafka.$rep.tsv" -- bench/kafka.sh
  done
}

scen_agent() {
  local kind
  for kind in access json; do
    log "agent: $kind lines, bench/agent.sh"
    sub "agent.$kind" REPS="$REPS" SIZE_MIB="$SIZE_MIB" LOG_KIND="$kind" CODECS="gzip zstd lz4 kafka-lz4" LATENCY=0 FANOUT=0 \
      KEEP_RAW="$work/agent.$kind.tsv" -- bench/agent.sh
  done
}

scen_rsyslog() {
  log "rsyslog: bench/rsyslog.sh"
  sub rsyslog REPS="$REPS" SIZE_MIB="$SIZE_MIB" KINDS="access json" CODECS="gzip zstd" -- bench/rsyslog.sh
}

scen_latency() {
  local rate
  for rate in $LAT_RATES; do
    log "latency: $rate MB/s, bench/agent.sh"
    sub "latency.$rate" REPS="$REPS" SIZE_MIB=1 CODECS= LATENCY=1 LAT_MBPS="$rate" LAT_SECONDS="$LAT_SECONDS" FANOUT=0 \
      KEEP_RAW="$work/latency.$rate.tsv" -- bench/agent.sh
  done
}

scen_resources() {
  log "resources: $FAN_FILES files, then idle, bench/agent.sh"
  sub resources REPS="$REPS" SIZE_MIB=1 CODECS= LATENCY=0 FANOUT=1 FAN_FILES="$FAN_FILES" FAN_RATE="$FAN_RATE" \
    FAN_SECONDS="$FAN_SECONDS" FAN_IDLE_SECONDS="$FAN_IDLE_SECONDS" KEEP_RAW="$work/resources.tsv" -- bench/agent.sh
}

scen_startup() {
  log "startup: bench/startup.sh"
  sub startup REPS="$REPS" PARTITIONS="$PARTITIONS" DATA_MIB="$DATA_MIB" LOAD_SECONDS="$LOAD_SECONDS" -- bench/startup.sh
}

scen_tls() {
  log "tls: bench/tls.sh"
  sub tls SMOKE="$SMOKE" SCENARIOS="kafka agent connect scram" REPS="$REPS" RECORDS=$((RECORDS / 4)) SIZE_MIB="$SIZE_MIB" -- bench/tls.sh
}

# ---------------------------------------------------------------------------
# Machine and versions, then the scenarios.
START_UTC=$(date -u '+%Y-%m-%d %H:%M:%S')
START_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(now)
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain -- agent collector src vendor Cargo.toml Cargo.lock 2>/dev/null | wc -l)
dirty_bench=$(git status --porcelain -- bench 2>/dev/null | wc -l)
{
  echo "machine	$(nproc) cores ($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n1)), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, kernel $(uname -r), $(df -PT "${TMPDIR:-/tmp}" | awk 'NR == 2 {print $2}') under ${TMPDIR:-/tmp}"
  echo "logship	commit $rev; agent/ collector/ src/: $([ "$dirty" -gt 0 ] && echo "$dirty uncommitted file(s), built as found" || echo "as committed"); bench/: $([ "$dirty_bench" -gt 0 ] && echo "$dirty_bench uncommitted file(s)" || echo "as committed"); $PROFILE_NOTE${REV_NOTE:+; $REV_NOTE}"
  echo "rustc	$(rustc -V 2>/dev/null || echo unknown)"
  echo "rsyslog	$(rsyslogd -v | head -n1 | sed 's/ *compiled with://; s/  */ /g') (Debian $(dpkg-query -W -f '${Version}' rsyslog 2>/dev/null || echo '?'), rsyslog-kafka $(dpkg-query -W -f '${Version}' rsyslog-kafka 2>/dev/null || echo '?'))"
  echo "librdkafka	$(dpkg-query -W -f '${Version}' librdkafka1 2>/dev/null || echo '?') (Debian, used by rsyslog's omkafka and kcat); $(awk '/^name = "rdkafka-sys"/ {getline; gsub(/"/, "", $3); print $3}' Cargo.lock) bundled in logship-bench (rdkafka-sys)"
  echo "kcat	$(kcat -V 2>&1 | sed -n 's/^Version \([0-9.]*\).*/\1/p')"
  echo "tools	$(gzip --version | head -n1), zstd $(zstd --version | grep -o 'v[0-9.]*'), $(lz4 --version 2>/dev/null | grep -o 'v[0-9.]*' | head -n1 | sed 's/^/lz4 /'), $(gnuplot --version)"
} > "$work/versions.tsv"
cat "$work/versions.tsv" >&2
log "scratch $work; load $START_LOAD; scenarios: $SCENARIOS"
# The machine may be shared: sample the 1-minute load average every 5 s.
: > "$work/load.txt"
# (Stopped through a file, not a signal: a signal that lands before the
# subshell has reset the inherited traps would run this script's cleanup.)
(
  trap - EXIT INT TERM
  i=0
  until [ -e "$work/load.stop" ]; do
    [ $((i % 5)) = 0 ] && cut -d' ' -f1 /proc/loadavg >> "$work/load.txt"
    i=$((i + 1))
    sleep 1
  done
) &
LOAD_PID=$!

failed=()
for s in $SCENARIOS; do
  declare -F "scen_$s" > /dev/null || die "unknown scenario $s"
  t0=$(now)
  # A background subshell keeps `set -e` in force inside the scenario.
  ( "scen_$s" ) &
  SCEN_PID=$!
  if wait "$SCEN_PID"; then
    log "$s: done in $(printf %.0f "$(echo "$(now) - $t0" | bc -l)") s"
  else
    failed+=("$s")
    log "$s: FAILED; the last lines of its logs:"
    for f in "$work"/"$s"*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 25 "$f" >&2; }; done
  fi
  SCEN_PID=
done
: > "$work/load.stop"
wait "$LOAD_PID" || true
LOAD_PID=
RUN_LOAD=$(sort -n "$work/load.txt" | awk '{v[NR] = $1} END {if (NR) printf "min %s, median %s, max %s (%d samples)", v[1], v[int((NR + 1) / 2)], v[NR], NR}')
[ -z "${REPLOT:-}" ] || cp "$REPLOT"/* "$work"/
END_UTC=$(date -u '+%Y-%m-%d %H:%M:%S')
ELAPSED=$(printf %.0f "$(echo "$(now) - $started" | bc -l)")

# ---------------------------------------------------------------------------
# Tables and charts.
export WORK=$work CHARTS_DIR SMOKE REPS SIZE_MIB RECORDS DD_MIB LAT_RATES LAT_SECONDS FAN_FILES FAN_RATE \
  FAN_SECONDS FAN_IDLE_SECONDS PARTITIONS DATA_MIB START_UTC END_UTC START_LOAD ELAPSED
END_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
export FAILED="${failed[*]}" END_LOAD
python3 - > "$work/summary.md" <<'PY' || { log "summarising failed"; failed+=(summary); }
import glob, math, os, re, statistics, subprocess, sys

W = os.environ["WORK"]
CH = os.environ["CHARTS_DIR"]
med = statistics.median
problems = []

def tsv(path):
    try:
        return [l.rstrip("\n").split("\t") for l in open(path) if l.strip()]
    except FileNotFoundError:
        return []

def kv_lines(path, prefix=None):
    """key=value fields of each line starting with `prefix ` (or of every line)."""
    try:
        return [dict(f.split("=", 1) for f in l.split() if "=" in f)
                for l in open(path) if l.strip() and (prefix is None or l.startswith(prefix + " "))]
    except FileNotFoundError:
        return []

def stats(vs):
    vs = [v for v in vs if v is not None and not math.isnan(v)]
    return (med(vs), min(vs), max(vs)) if vs else None

def fmt(x, unit=""):
    if x is None:
        return "-"
    a = abs(x)
    s = f"{x:,.0f}" if a >= 100 else f"{x:.1f}" if a >= 10 else f"{x:.2f}" if a >= 0.1 else f"{x:.3f}"
    return s + unit

def table_head(title, note, header, align):
    """A section's heading, its note and a Markdown table's first two rows."""
    out.append(f"### {title}\n")
    out.append(note + "\n")
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "|".join(align) + "|")

def cells(vs):
    s = stats(vs)
    return ("-", "-") if s is None else (fmt(s[0]), f"{fmt(s[1])}-{fmt(s[2])}")

def med_of(vs):
    s = stats(vs)
    return s[0] if s else None

def per_rep(a, b):
    """a / b within each repetition both dicts (rep -> value) have."""
    return [a[x] / b[x] for x in a if x in b]

out = []
charts = []
if os.environ.get("SMOKE") == "1":
    out.append("**Smoke run** (tiny data, one repetition, usually a debug build): it checks that every scenario still runs; its numbers mean nothing.\n")

def chart(name, title, ylabel, groups, series, log=False, yformat="% g"):
    """groups: x labels; series: [(title, [stats or None per group])]."""
    if not groups or not any(s for _, col in series for s in col):
        return
    dat = os.path.join(W, name + ".dat")
    with open(dat, "w") as f:
        for i, g in enumerate(groups):
            row = [g]
            for _, col in series:
                s = col[i]
                row += ["NaN"] * 3 if s is None else [f"{s[0]:.6g}", f"{s[1]:.6g}", f"{s[2]:.6g}"]
            f.write("\t".join(row) + "\n")
    uses = []
    for j, (t, _) in enumerate(series):
        c = 2 + 3 * j
        xt = ":xtic(1)" if j == 0 else ""
        uses.append(f"'{dat}' using {c}:{c + 1}:{c + 2}{xt} title '{t}'")
    gp = f"""set terminal pngcairo size 960,540 noenhanced font 'sans,10'
set output '{os.path.join(CH, name + '.png')}'
set datafile separator '\\t'
set datafile missing 'NaN'
set title "{title}\\n(median of {os.environ['REPS']} repetition(s); error bars: min-max)"
set format y '{yformat}'
set style data histograms
set style histogram errorbars gap 1.5 lw 1
set style fill solid 0.75 border -1
set ylabel '{ylabel}'
set grid ytics
set key outside right top
set xtics nomirror
{'set logscale y' if log else 'set yrange [0:*]'}
plot {', '.join(uses)}
"""
    gpf = os.path.join(W, name + ".gp")
    open(gpf, "w").write(gp)
    r = subprocess.run(["gnuplot", gpf], capture_output=True, text=True)
    png = os.path.join(CH, name + ".png")
    if r.returncode != 0 or not os.path.exists(png) or os.path.getsize(png) == 0:
        problems.append(f"chart {name}: gnuplot failed: {r.stderr.strip()[:300]}")
    else:
        charts.append((name, title))

# ----- storage engine
sraw = kv_lines(os.path.join(W, "storage.raw"))
def s_rate(kind):
    return {r["rep"]: float(r["bytes"]) / float(r["secs"]) / 1e6 for r in sraw if r.get("kind") == kind}
s_dd, s_cat = s_rate("dd"), s_rate("cat")
def s_append(batch, appenders, flush):
    return {r["rep"]: float(r["MBps"]) for r in sraw if r.get("kind") == "append" and r["batch"] == str(batch)
            and r["appenders"] == str(appenders) and r["flush"] == flush}
s_read = {r["rep"]: float(r["MBps"]) for r in sraw if r.get("kind") == "read"}
s_start = [float(r["clean_open_secs"]) for r in sraw if r.get("kind") == "startup"]
if sraw:
    table_head("Storage engine: append (1 KiB records) and sequential read, against dd and cat",
               "bench/storage.sh in-process (`logship-bench append|read|startup`). Ratios are to the same repetition's `dd conv=fdatasync` (appends) or page-cache `cat` (reads). flush=always: group-commit fsync before each append returns (the default); os: the page cache.",
               ("measurement", "median MB/s", "min-max", "ratio", "ratio min-max"), ("---", "---:", "---:", "---:", "---:"))
    m, r = cells(s_dd.values()); out.append(f"| `dd bs=1M conv=fdatasync` | {m} | {r} | 1 | - |")
    m, r = cells(s_cat.values()); out.append(f"| `cat`, page cache | {m} | {r} | 1 | - |")
    for flush in ("always", "os"):
        for batch, bl in ((16384, "16 KiB"), (1048576, "1 MiB")):
            for n in (1, 8):
                a = s_append(batch, n, flush)
                m, r = cells(a.values()); qm, qr = cells(per_rep(a, s_dd))
                out.append(f"| append, {bl} batches, {n} appender(s), flush={flush} | {m} | {r} | {qm} | {qr} |")
    m, r = cells(s_read.values()); qm, qr = cells(per_rep(s_read, s_cat))
    out.append(f"| sequential read | {m} | {r} | {qm} | {qr} |")
    m, r = cells(s_start); out.append(f"| start-up after a clean shutdown, 1,000 partitions (s) | {m} | {r} | - | - |")
    out.append("")

# ----- collector produce / consume
base = tsv(os.path.join(W, "base.tsv"))
dd = {r[0]: float(r[2]) for r in base if r[1] == "dd_MBps"}
cat = {r[0]: float(r[2]) for r in base if r[1] == "cat_MBps"}
kafka = {}
for p in glob.glob(os.path.join(W, "kafka.*.tsv")):
    rep = p.split(".")[-2]
    for r in tsv(p):
        size = int(r[1])
        kafka[(rep, size)] = dict(prps=float(r[2]), pmb=float(r[3]), crps=float(r[4]),
                                  cmb=float(r[4]) * size / 1e6, rss=float(r[5]),
                                  app=float(r[6]) if len(r) > 6 and r[6] else float("nan"),
                                  crps2=float(r[7]) if len(r) > 7 and r[7] else float("nan"))
if dd or kafka:
    table_head("Collector: Kafka produce (acks=all) and consume, against dd and cat",
               "MB = 10^6 bytes of record payload. Ratios are per repetition (the baseline measured just before that repetition's kafka.sh run), then the median and min-max of those ratios.",
               ("measurement", "median", "min-max", "ratio", "ratio min-max", "baseline"), ("---", "---:", "---:", "---:", "---:", "---"))
    m, r = cells(dd.values()); out.append(f"| `dd bs=1M count={os.environ['DD_MIB']} conv=fdatasync` (MB/s) | {m} | {r} | 1 | - | - |")
    m, r = cells(cat.values()); out.append(f"| `cat` of that file, page cache (MB/s) | {m} | {r} | 1 | - | - |")
    for size, label in ((100, "100 B"), (1024, "1 KiB")):
        reps = sorted(k[0] for k in kafka if k[1] == size)
        if not reps:
            continue
        for key, what, basis, bname in (("prps", "produce records/s", None, ""), ("pmb", "produce MB/s", dd, "dd"),
                                         ("crps", "consume records/s", None, ""), ("cmb", "consume MB/s", cat, "cat"),
                                         ("crps2", "consume records/s, two consumers on two partitions", None, "")):
            vs = [kafka[(x, size)][key] for x in reps]
            m, r = cells(vs)
            if basis:
                q = [kafka[(x, size)][key] / basis[x] for x in reps if x in basis]
                qm, qr = cells(q)
            else:
                qm, qr, bname = "-", "-", "-"
            out.append(f"| {label} records: {what} | {m} | {r} | {qm} | {qr} | {bname} |")
        m, r = cells([kafka[(x, size)]["rss"] / 1024 for x in reps])
        out.append(f"| {label} records: collector peak RSS (MiB) | {m} | {r} | - | - | - |")
    out.append("")
    groups, col = [], []
    for size, label in ((100, "100 B"), (1024, "1 KiB")):
        for key, what in (("pmb", "produce"), ("cmb", "consume")):
            groups.append(f"{what} {label}")
            col.append(stats([v[key] for k, v in kafka.items() if k[1] == size]))
    groups += ["dd fdatasync", "cat page cache"]
    col += [stats(dd.values()), stats(cat.values())]
    chart("collector-throughput", "Collector over Kafka (rdkafka, acks=all) vs dd and cat", "MB/s (log scale)",
          groups, [("MB/s", col)], log=True)

# ----- agent end to end
agent_rows = {}
for kind in ("access", "json"):
    rows = tsv(os.path.join(W, f"agent.{kind}.tsv"))
    if rows:
        agent_rows[kind] = rows
AGENT_CODECS = ("gzip", "zstd", "lz4", "kafka-lz4")
def av(kind, k, key):
    return {r[0]: float(r[3]) for r in agent_rows.get(kind, []) if r[1] == k and r[2] == key}
if agent_rows:
    out.append("### Agent -> collector end to end, against `gzip -1`, `zstd -1` and `lz4 -1` on the same file\n")
    out.append(f"A {os.environ['SIZE_MIB']} MiB file, read from the page cache; HTTP ingest with fsync before each ack (`kafka-lz4`: the Kafka sink, librdkafka to the collector's Kafka port, acks=all). Ratios are to the same repetition's single-core `gzip -1` / `zstd -1` / `lz4 -1 -c FILE > /dev/null`. CPU s per GB: the agent's utime+stime per 10^9 bytes of file.\n")
    out.append("| file | measurement | median | min-max | ratio to baseline | ratio min-max |")
    out.append("|---|---|---:|---:|---:|---:|")
    for kind, rows in agent_rows.items():
        nbytes = None
        for tool in ("gzip", "zstd", "lz4"):
            m, r = cells(av(kind, "base", tool).values())
            out.append(f"| {kind} | baseline `{tool} -1` (MB/s) | {m} | {r} | 1 | - |")
        for codec in AGENT_CODECS:
            mb = av(kind, "e2e", f"{codec}.MBps")
            if not mb:
                continue
            b = av(kind, "base", codec.removeprefix("kafka-"))
            m, r = cells(mb.values()); qm, qr = cells(per_rep(mb, b))
            out.append(f"| {kind} | agent {codec}: MB/s end to end | {m} | {r} | {qm} | {qr} |")
            lines = av(kind, "e2e", f"{codec}.lines")
            m, r = cells(lines.values())
            out.append(f"| {kind} | agent {codec}: lines/s | {m} | {r} | - | - |")
            cpu = av(kind, "e2e", f"{codec}.agent_cpu")
            size_gb = int(os.environ["SIZE_MIB"]) * 1048576 / 1e9
            m, r = cells([c / size_gb for c in cpu.values()])
            out.append(f"| {kind} | agent {codec}: CPU s per GB | {m} | {r} | - | - |")
            m, r = cells([v / 1024 for v in av(kind, "e2e", f"{codec}.agent_rss").values()])
            out.append(f"| {kind} | agent {codec}: peak RSS (MiB), full load | {m} | {r} | - | - |")
            m, r = cells([v / 1024 for v in av(kind, "e2e", f"{codec}.coll_rss").values()])
            out.append(f"| {kind} | collector peak RSS (MiB) | {m} | {r} | - | - |")
    out.append("")
    groups = list(agent_rows)
    series = []
    for t, k, key in (("agent gzip", "e2e", "gzip.MBps"), ("gzip -1", "base", "gzip"),
                      ("agent zstd", "e2e", "zstd.MBps"), ("zstd -1", "base", "zstd"),
                      ("agent lz4", "e2e", "lz4.MBps"), ("agent Kafka sink lz4", "e2e", "kafka-lz4.MBps"),
                      ("lz4 -1", "base", "lz4")):
        series.append((t, [stats(av(kind, k, key).values()) for kind in groups]))
    chart("agent-throughput", "Agent -> collector end to end vs single-core compressors, same file",
          "MB/s of log file", [f"{g} log" for g in groups], series)

# ----- TLS and SASL: bench/tls.sh prints its own table
tls_out = os.path.join(W, "tls.out")
if os.path.exists(tls_out) and os.path.getsize(tls_out):
    out.append("### TLS and SASL against plaintext, same run (bench/tls.sh)\n")
    out.append(open(tls_out).read().strip() + "\n")

# ----- rsyslog
rs = kv_lines(os.path.join(W, "rsyslog.out"), "shipper")
target_lines = []
if rs:
    out.append("### logship vs rsyslog (imfile -> omkafka), same file, same collector\n")
    out.append("Lines/s from exec'ing the shipper until the collector has appended every line; CPU s per GB = the shipper process's utime+stime per 10^9 bytes of file. Ratios are logship / rsyslog within a repetition (median, min-max). Every run was checked with kcat: exactly the file's lines, byte for byte.\n")
    out.append("| file | codec | measurement | logship | rsyslog | logship / rsyslog | target | result |")
    out.append("|---|---|---|---:|---:|---:|---|---|")
    combos = list(dict.fromkeys((r["kind"], r["codec"]) for r in rs))
    for kind, codec in combos:
        sel = {(r["rep"], r["shipper"]): r for r in rs if r["kind"] == kind and r["codec"] == codec}
        reps = sorted({k[0] for k in sel})
        for key, label, target, ok in (("lines_per_s", "lines/s", ">= 3x", lambda q: q >= 3),
                                       ("cpu_s_per_GB", "CPU s per GB", "< 1x (fewer)", lambda q: q < 1),
                                       ("rss_kb", "peak RSS (MiB)", "-", None)):
            scale = 1024 if key == "rss_kb" else 1
            c = []
            for s in ("logship", "rsyslog"):
                m, r = cells([float(sel[(x, s)][key]) / scale for x in reps if (x, s) in sel])
                c.append(f"{m} ({r})")
            q = [float(sel[(x, "logship")][key]) / float(sel[(x, "rsyslog")][key])
                 for x in reps if (x, "logship") in sel and (x, "rsyslog") in sel]
            qs = stats(q)
            if qs:
                rc = f"{qs[0]:.2f} ({qs[1]:.2f}-{qs[2]:.2f})"
                res = "-" if ok is None else ("**met**" if ok(qs[0]) else "**not met**")
                if ok is not None:
                    target_lines.append((kind, codec, label, qs[0], ok(qs[0])))
            else:
                rc, res = "-", "-"
            out.append(f"| {kind} | {codec} | {label} | {c[0]} | {c[1]} | {rc} | {target} | {res} |")
    out.append("")
    groups = [f"{k} {c}" for k, c in combos]
    for key, name, title, ylabel in (("lines_per_s", "rsyslog-lines", "Lines/s into the same collector: logship vs rsyslog", "lines/s"),
                                     ("cpu_s_per_GB", "rsyslog-cpu", "Shipper CPU seconds per GB of log file: logship vs rsyslog", "CPU s per GB (lower is better)")):
        series = [(s, [stats([float(r[key]) for r in rs if r["kind"] == k and r["codec"] == c and r["shipper"] == s])
                       for k, c in combos]) for s in ("logship", "rsyslog")]
        chart(name, title, ylabel, groups, series, yformat="%.1s%c" if key == "lines_per_s" else "% g")

# ----- latency
lat = {}
for p in glob.glob(os.path.join(W, "latency.*.tsv")):
    rate = p[len(os.path.join(W, "latency.")):-len(".tsv")]
    lat[rate] = {k: [float(r[3]) for r in tsv(p) if r[1] == "lat" and r[2] == k] for k in ("p50_ms", "p99_ms", "p999_ms")}
if lat:
    rates = sorted(lat, key=float)
    out.append("### End-to-end latency: line written -> Kafka consumer receives it\n")
    out.append(f"bench/agent.sh's latency scenario: 200 B lines appended every millisecond for {os.environ['LAT_SECONDS']} s (the first second not measured), agent gzip with a 5 ms linger, collector fsync before ack, rdkafka consumer on the collector's Kafka port. Milliseconds.\n")
    out.append("| rate | p50 | p50 min-max | p99 | p99 min-max | p99.9 | p99.9 min-max |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    for rate in rates:
        row = [f"{rate} MB/s"]
        for k in ("p50_ms", "p99_ms", "p999_ms"):
            row += list(cells(lat[rate][k]))
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    chart("latency", "Write -> consume latency percentiles", "ms (log scale)", [f"{r} MB/s" for r in rates],
          [(t, [stats(lat[r][k]) for r in rates]) for t, k in (("p50", "p50_ms"), ("p99", "p99_ms"), ("p99.9", "p999_ms"))],
          log=True)

# ----- agent resources
res = tsv(os.path.join(W, "resources.tsv"))
def rv(key):
    return [float(r[3]) for r in res if r[1] == "fan" and r[2] == key]
if res or agent_rows:
    out.append("### Agent RSS and CPU: idle with 1,000 files, 1,000 files written to, full load\n")
    out.append("| state | measurement | median | min-max |")
    out.append("|---|---|---:|---:|")
    files, rate, secs, idle = (os.environ[k] for k in ("FAN_FILES", "FAN_RATE", "FAN_SECONDS", "FAN_IDLE_SECONDS"))
    if res:
        m, r = cells(rv("idle_cpu_pct")); out.append(f"| idle, {files} files open, {idle} s | agent CPU (% of one core) | {m} | {r} |")
        m, r = cells([v / 1024 for v in rv("idle_rss")]); out.append(f"| idle, {files} files open | agent RSS (MiB) | {m} | {r} |")
        m, r = cells(rv("idle_coll_cpu_pct")); out.append(f"| idle, {files} files open | collector CPU (% of one core) | {m} | {r} |")
        m, r = cells([v / 1024 for v in rv("rss")]); out.append(f"| {files} files, {rate} lines/s for {secs} s | agent peak RSS (MiB) | {m} | {r} |")
        m, r = cells(rv("agent_cpu")); out.append(f"| {files} files, {rate} lines/s for {secs} s | agent CPU s (whole run) | {m} | {r} |")
        m, r = cells(rv("fds")); out.append(f"| {files} files | agent max open descriptors | {m} | {r} |")
    for kind in agent_rows:
        for codec in AGENT_CODECS:
            v = av(kind, "e2e", f"{codec}.agent_rss")
            if v:
                m, r = cells([x / 1024 for x in v.values()]); out.append(f"| full load, {kind} file, {codec} | agent peak RSS (MiB) | {m} | {r} |")
                m, r = cells(av(kind, "e2e", f"{codec}.agent_cpu").values()); out.append(f"| full load, {kind} file, {codec} | agent CPU s for the file | {m} | {r} |")
    out.append("")
    groups, col = [], []
    if res:
        groups += [f"idle, {files} files", f"{files} files, {rate} lines/s"]
        col += [stats([v / 1024 for v in rv("idle_rss")]), stats([v / 1024 for v in rv("rss")])]
    for kind in agent_rows:
        for codec in AGENT_CODECS:
            v = av(kind, "e2e", f"{codec}.agent_rss")
            if v:
                groups.append(f"full load {kind} {codec}")
                col.append(stats([x / 1024 for x in v.values()]))
    chart("agent-rss", "Agent resident memory", "MiB", groups, [("agent RSS", col)])

# ----- startup
st = kv_lines(os.path.join(W, "startup.out"), "startup")
if st:
    out.append(f"### Collector start-up, {os.environ['PARTITIONS']} partitions\n")
    out.append("From exec to the \"collector ready\" log line (its timestamp); page cache warm; `sync` before each start. After an unclean stop every partition's active segment is scanned and its indexes rebuilt.\n")
    out.append("| stop before the start | data (GB) | exec -> ready (s) | min-max | of which storage load (s) | min-max |")
    out.append("|---|---:|---:|---:|---:|---:|")
    sgroups, scol = [], []
    for stop in ("clean", "unclean"):
        r = [x for x in st if x.get("stop") == stop]
        if not r:
            continue
        gb = stats([int(x["data_bytes"]) / 1e9 for x in r])
        m, mm = cells([float(x["ready_secs"]) for x in r])
        sm, smm = cells([float(x["storage_ms"]) / 1e3 for x in r])
        out.append(f"| {stop} | {fmt(gb[1])}-{fmt(gb[2])} | {m} | {mm} | {sm} | {smm} |")
        sgroups.append(f"after {stop} stop")
        scol.append(stats([float(x["ready_secs"]) for x in r]))
    m, mm = cells([float(x["clean_stop_secs"]) for x in st if "clean_stop_secs" in x])
    out.append(f"| (the clean stop itself: SIGTERM -> exit) | - | {m} | {mm} | - | - |")
    out.append("")
    chart("startup", f"Collector start-up with {os.environ['PARTITIONS']} partitions", "seconds to ready", sgroups, [("exec -> ready", scol)])

# ----- the other issues' targets, as this run measured them
def kafka_med(size, key):
    return med_of([v[key] for k, v in kafka.items() if k[1] == size])
def agent_med(key, kind="access"):
    return med_of(list(av(kind, "e2e", key).values()))
def agent_ratio(num, den, kind="access"):
    return med_of(per_rep(av(kind, "e2e", num), av(kind, "e2e", den)))
issue_targets = []
def target(issue, what, value, goal, ok):
    if value is not None:
        issue_targets.append((issue, what, fmt(value), goal, "met" if ok(value) else "**not met**"))
a8 = s_append(1048576, 8, "always")
target("storage", "append, 1 MiB batches, 8 appenders, fsync / dd fdatasync",
       med_of(per_rep(a8, s_dd)), ">= 0.7", lambda v: v >= 0.7)
target("storage", "append, 16 KiB batches, 8 appenders, fsync (MB/s)",
       med_of(list(s_append(16384, 8, "always").values())), ">= 100", lambda v: v >= 100)
target("storage", "sequential read (MB/s)", med_of(list(s_read.values())), ">= 1,000", lambda v: v >= 1000)
target("storage", "start-up after a clean shutdown, 1,000 partitions (s)", med_of(s_start), "< 1", lambda v: v < 1)
target("storage/Kafka", "produce, 100 B records (records/s)", kafka_med(100, "prps"), ">= 1,000,000", lambda v: v >= 1e6)
target("storage/Kafka", "consume, 100 B records, one consumer (records/s)", kafka_med(100, "crps"), ">= 1,500,000", lambda v: v >= 1.5e6)
target("storage/Kafka", "consume, 100 B records, two consumers (records/s)", kafka_med(100, "crps2"), ">= 1,500,000", lambda v: v >= 1.5e6)
app_q = med_of([v["pmb"] / v["app"] for k, v in kafka.items() if k[1] == 1024])
target("storage/Kafka", "produce, 1 KiB records / storage append bandwidth", app_q, ">= 0.5", lambda v: v >= 0.5)
rss_meds = [m / 1024 for m in (kafka_med(100, "rss"), kafka_med(1024, "rss")) if m is not None]
target("storage/Kafka", "collector peak RSS during produce/consume (MiB, larger record size's median)",
       max(rss_meds) if rss_meds else None, "<= 128", lambda v: v <= 128)
target("agent", "access log, gzip, end to end (MB/s)", agent_med("gzip.MBps"), ">= 150", lambda v: v >= 150)
best = max([m for m in (agent_med("zstd.MBps"), agent_med("lz4.MBps")) if m is not None], default=None)
target("agent", "access log, the faster of zstd and lz4, end to end (MB/s)", best, ">= 300", lambda v: v >= 300)
full_rss = [agent_med(f"{c}.agent_rss") for c in ("gzip", "zstd", "lz4")]
full_rss = [v / 1024 for v in full_rss if v is not None]
target("agent", "agent peak RSS, access log at full load, worst codec (MiB)", max(full_rss) if full_rss else None, "<= 48", lambda v: v <= 48)
fan = med_of([v / 1024 for v in rv("rss")]) if res else None
target("agent", "agent peak RSS, 1,000 files written to (MiB)", fan, "<= 48", lambda v: v <= 48)
p99 = med_of(lat.get("10", {}).get("p99_ms", [])) if lat else None
target("agent", "write -> consume p99 at 10 MB/s (ms)", p99, "<= 20", lambda v: v <= 20)
target("metrics sources / Kafka sink", "Kafka sink / HTTP sink, lz4, access log (MB/s ratio)",
       agent_ratio("kafka-lz4.MBps", "lz4.MBps"), ">= 0.8", lambda v: v >= 0.8)
if issue_targets:
    table_head("The other issues' targets, as measured in this run",
               "Medians over the repetitions above (for ratios: the median of per-repetition ratios).",
               ("issue", "measurement", "this run", "target", "result"), ("---", "---", "---:", "---", "---"))
    for row in issue_targets:
        out.append("| " + " | ".join(row) + " |")
    out.append("")

# ----- targets and charts
if target_lines:
    out.append("### Target: logship >= 3x rsyslog in lines/s, with fewer CPU seconds per GB\n")
    for kind, codec, label, q, ok in target_lines:
        out.append(f"- {kind} file, {codec}: {label} logship / rsyslog = {q:.2f}: {'met' if ok else 'not met'}")
    out.append("")
if charts:
    out.append("### Charts\n")
    for name, title in charts:
        out.append(f"![{title}](charts/{name}.png)\n")
for p in problems:
    out.append(f"PROBLEM: {p}")
print("\n".join(out))
if problems:
    sys.exit(1)
PY
cat "$work/summary.md"

if [ "$SMOKE" != 1 ] && [ "$RESULTS" = 1 ]; then
  # The run's record goes to the day's history file; bench/RESULTS.md holds
  # only the current table per scenario, which the person running this
  # updates from the section (bench/README.md, "Recording a run").
  day=${START_UTC%% *}
  history="$ROOT/bench/history/$day.md"
  mkdir -p "$ROOT/bench/history"
  if [ ! -f "$history" ]; then
    printf '# Benchmark history: %s\n\nRuns recorded on this day. The current figures are in [../RESULTS.md](../RESULTS.md).\n' "$day" > "$history"
  fi
  {
    echo
    echo "## Side by side (bench/run.sh), $START_UTC UTC"
    echo
    echo "**Date:** $START_UTC to $END_UTC UTC ($ELAPSED s). Load average $START_LOAD at the start, $END_LOAD at the end; 1-minute load average sampled every 5 s during the run: $RUN_LOAD, on $(nproc) cores."
    [ ${#failed[@]} -gt 0 ] && echo "**Failed scenarios:** ${failed[*]} (their rows are missing below)."
    echo
    echo "| | |"
    echo "|---|---|"
    sed 's/\t/ | /; s/^/| /; s/$/ |/' "$work/versions.tsv"
    echo
    echo "### Commands"
    echo
    echo '```sh'
    echo "bash bench/run.sh   # REPS=$REPS STORAGE_MIB=$STORAGE_MIB SIZE_MIB=$SIZE_MIB RECORDS=$RECORDS DD_MIB=$DD_MIB LAT_RATES=\"$LAT_RATES\" PARTITIONS=$PARTITIONS DATA_MIB=$DATA_MIB"
    echo "# which ran, in this order (\$WORK is its scratch directory):"
    cat "$work/commands.txt"
    echo '```'
    echo
    # The history file sits one level below the charts.
    sed 's|](charts/|](../charts/|g' "$work/summary.md"
  } >> "$history"
  log "appended a section to bench/history/$day.md; charts in $CHARTS_DIR"
  log "now update the current tables in bench/RESULTS.md from it (bench/README.md, \"Recording a run\")"
fi

if [ ${#failed[@]} -gt 0 ]; then
  log "FAILED: ${failed[*]}"
  exit 1
fi
log "all scenarios passed in $ELAPSED s"
