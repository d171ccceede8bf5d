#!/usr/bin/env bash
# The long form of the exactly-once test (tests/agent_files.rs): a writer
# appends numbered lines to three files rotated by rename and by
# copytruncate while the agent is SIGKILLed ROUNDS times and the collector
# every fourth round; at the end a Kafka client must find every line
# exactly once, in order within each file. CI runs 12 rounds.
#
#   ROUNDS=200 bash bench/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export LOGSHIP_SOAK_ROUNDS=${ROUNDS:-100}
exec cargo test --release --locked --test tests \
  agent_files::exactly_once_through_kills_of_agent_and_collector_and_rotations -- --nocapture
