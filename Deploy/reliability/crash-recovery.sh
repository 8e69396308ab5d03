#!/usr/bin/env bash
# Crash recovery under load: kill -9 Osprey several times while 200k events
# stream in, restart it each time, then check every event's decision (or dead
# letter) and that every decision's features equal `osprey backfill`'s.
#
#   Deploy/reliability/crash-recovery.sh [EVENTS] [RATE] [KILLS] [--static-membership]   (default 200000 5000 5)
# OSPREY_BENCH_SKIP_BUILD=1 reuses .build/release/osprey.
set -euo pipefail
cd "$(dirname "$0")/../.."
events="${1:-200000}"
rate="${2:-5000}"
kills="${3:-5}"
extra=("${@:4}")
command -v swift >/dev/null 2>&1 || export PATH="$PATH:/opt/swift/usr/bin"
source Deploy/scripts/kafka-env.sh
osprey_install_kafka_deps
[ "${OSPREY_BENCH_SKIP_BUILD:-0}" = 1 ] || swift build -c release --product osprey >/dev/null
work="$(mktemp -d)"
trap 'broker_stop; rm -rf "$work"' EXIT
broker_start
.venv-kafka/bin/python Deploy/reliability/crash_recovery.py "$OSPREY_KAFKA_BOOTSTRAP" .build/release/osprey \
    Deploy/examples/payments/osprey.yaml "$work" --events "$events" --rate "$rate" --kills "$kills" "${extra[@]}"
