#!/usr/bin/env bash
# Soak: Osprey on a steady stream with entity churn; memory, descriptors,
# threads and latency must stay flat (see soak.py).
#
#   Deploy/reliability/soak.sh [SECONDS] [RATE]      (default 600 2000)
# OSPREY_BENCH_SKIP_BUILD=1 reuses .build/release/osprey.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v swift >/dev/null 2>&1 || export PATH="$PATH:/opt/swift/usr/bin"
source Deploy/scripts/kafka-env.sh
osprey_install_kafka_deps
[ "${OSPREY_BENCH_SKIP_BUILD:-0}" = 1 ] || swift build -c release --product osprey >/dev/null
work="$(mktemp -d)"
trap 'broker_stop; rm -rf "$work"' EXIT
broker_start
.venv-kafka/bin/python Deploy/reliability/soak.py "$OSPREY_KAFKA_BOOTSTRAP" .build/release/osprey \
    Deploy/examples/payments/osprey.yaml "$work" --seconds "${1:-600}" --rate "${2:-2000}"
