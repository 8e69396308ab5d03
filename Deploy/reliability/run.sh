#!/usr/bin/env bash
# Runs one reliability scenario against the release binary and a private
# Tansu broker, and prints its figures and a PASS/FAIL verdict.
#
#   Deploy/reliability/run.sh crash-recovery  [--events 200000] [--rate 5000] [--kills 5] [--static-membership]
#   Deploy/reliability/run.sh bad-input       [--events 200000] [--rate 5000] [--http-passes 20]
#   Deploy/reliability/run.sh rebalance       [--events 400000] [--rate 5000] [--stay 15]
#   Deploy/reliability/run.sh rolling-restart [--entities 1000000] [--rate 5000]
#   Deploy/reliability/run.sh soak            [--seconds 600] [--rate 2000]
#
# OSPREY_BENCH_SKIP_BUILD=1 reuses .build/release/osprey; OSPREY_KEEP_WORKDIR=1
# keeps the scenario's folder (Osprey's logs, the backfills) and prints where.
set -euo pipefail
cd "$(dirname "$0")/../.."
scenario="${1:?name a scenario: crash-recovery, bad-input, rebalance, rolling-restart or soak}"
shift
script="Deploy/reliability/${scenario//-/_}.py"
[ -f "$script" ] || { echo "run.sh: no scenario '$scenario'" >&2; exit 2; }
command -v swift >/dev/null 2>&1 || export PATH="$PATH:/opt/swift/usr/bin"
source Deploy/scripts/kafka-env.sh
osprey_install_kafka_deps
[ "${OSPREY_BENCH_SKIP_BUILD:-0}" = 1 ] || swift build -c release --product osprey >/dev/null
work="$(mktemp -d)"
cleanup() {
    broker_stop
    if [ "${OSPREY_KEEP_WORKDIR:-0}" = 1 ]; then echo "logs and files kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
broker_start
.venv-kafka/bin/python "$script" "$OSPREY_KAFKA_BOOTSTRAP" .build/release/osprey Deploy/examples/payments/osprey.yaml "$work" "$@"
