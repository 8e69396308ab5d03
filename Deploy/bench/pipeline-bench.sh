#!/usr/bin/env bash
# Osprey end to end on a local broker: throughput on a preloaded stream, the
# broker's own consume ceiling in the same run, and latency at a steady rate.
#
#   Deploy/bench/pipeline-bench.sh [EVENTS] [RATE] [SECONDS]
#
# EVENTS (default 1,000,000) payments events over 100k cards are preloaded;
# Osprey (release build, the payments example with a 300-tree depth-6 model
# trained here on backfilled features, feature logging off) is pinned to one
# core when taskset exists; the broker (all its threads), the event generator
# and the measuring consumers to the other, so nothing else runs on Osprey's core. Then events are produced
# at RATE/s (default 10,000) for SECONDS (default 20) and the time from
# producing an event to reading its decision is measured, after the same
# measure of one bare produce -> consume hop on the broker. Both runs are
# repeated with the Python peer (Deploy/bench/python_peer.py: confluent-kafka,
# json, tile rings, XGBoost batch predict) on the same broker, model and core.
# OSPREY_BENCH_SKIP_BUILD=1 reuses .build/release/osprey.
set -euo pipefail
cd "$(dirname "$0")/../.."
events="${1:-1000000}"
rate="${2:-10000}"
seconds="${3:-20}"
command -v swift >/dev/null 2>&1 || export PATH="$PATH:/opt/swift/usr/bin"
source Deploy/scripts/kafka-env.sh
osprey_install_kafka_deps
[ "${OSPREY_BENCH_SKIP_BUILD:-0}" = 1 ] || swift build -c release --product osprey >/dev/null
py=.venv-kafka/bin/python
osprey_install_training_deps
pin_osprey=""
pin_broker=""
pin_side=""
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
    pin_osprey="taskset -c 1"
    pin_broker=yes
    pin_side="taskset -c 0"
fi

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    broker_stop
    rm -rf "$work"
}
trap cleanup EXIT
broker_start
# -a: Tansu's worker threads already exist; pinning only its main thread left
# them free to run on Osprey's core.
[ -n "$pin_broker" ] && taskset -a -p -c 0 "$OSPREY_BROKER_PID" >/dev/null
for t in payments payments-decisions python-decisions hop-payments lat-payments lat-decisions lat-py-payments lat-py-decisions; do
    create_topic "$t" 6
done
create_topic payments-dlq 1

echo "== training a 300-tree model on backfilled features"
model="$work/models/payments/bench-300/model.json"
$py Deploy/tools/generate_events.py payments --count 60000 --entities 3000 --rate 20 --out "$work/train.jsonl" --labels "$work/labels.csv"
# The generator's labels follow a few features exactly, and trees fitted to
# them stop after a split or two (2 nodes each on average), which would make
# the "300-tree score" nearly free. A hundredth of the labels flipped at
# random makes the trees grow as a real fraud model's do (~55 nodes each).
$py - "$work/labels.csv" <<'PY'
import csv, random, sys
rng = random.Random(1)
with open(sys.argv[1]) as f:
    rows = list(csv.reader(f))
for row in rows[1:]:
    if rng.random() < 0.01:
        row[1] = "1" if row[1] == "0" else "0"
with open(sys.argv[1], "w", newline="") as f:
    csv.writer(f).writerows(rows)
PY
$py Deploy/training/train.py --config Deploy/examples/payments/osprey.yaml --events "$work/train.jsonl" --labels "$work/labels.csv" \
    --registry "$work/models" --name payments --version bench-300 --trees 300 --depth 6 --osprey .build/release/osprey
export OSPREY_MODEL_REGISTRY="$work/models" OSPREY_MODEL_LIVE=bench-300
$py - "$model" <<'PY'
import json, sys
trees = json.load(open(sys.argv[1]))["learner"]["gradient_booster"]["model"]["trees"]
print(f"model: {len(trees)} trees, {sum(int(t['tree_param']['num_nodes']) for t in trees) / len(trees):.1f} nodes per tree on average")
PY

echo "== preloading $events events"
$pin_side $py Deploy/tools/generate_events.py payments --count "$events" --entities 100000 --kafka "$OSPREY_KAFKA_BOOTSTRAP" --topic payments
$pin_osprey $py Deploy/bench/pipeline_measure.py ceiling "$OSPREY_KAFKA_BOOTSTRAP" payments "$events"

echo "== osprey on the preloaded stream"
export OSPREY_CHECKPOINT_DIR="$work/checkpoints" OSPREY_OUTPUT_INCLUDE_FEATURES=false
# A backlog on Tansu wants a longer fetch wait than the example's 10 ms (see
# pipeline_measure.py); the Python peer gets the same.
OSPREY_KAFKA_CONSUMER_PROPERTIES_FETCH_WAIT_MAX_MS=100 \
OSPREY_GROUP_ID=bench-throughput $pin_osprey .build/release/osprey run --config Deploy/examples/payments/osprey.yaml 2>"$work/osprey-throughput.log" &
pids+=($!)
$pin_side $py Deploy/bench/pipeline_measure.py throughput "$OSPREY_KAFKA_BOOTSTRAP" payments-decisions "$events"
kill -TERM "${pids[-1]}"; wait "${pids[-1]}" || true
grep -h "stopped:" "$work/osprey-throughput.log" || true

echo "== python peer on the same preloaded stream"
PEER_FETCH_WAIT_MAX_MS=100 $pin_osprey $py Deploy/bench/python_peer.py "$OSPREY_KAFKA_BOOTSTRAP" bench-python payments python-decisions "$model" &
pids+=($!)
$pin_side $py Deploy/bench/pipeline_measure.py throughput "$OSPREY_KAFKA_BOOTSTRAP" python-decisions "$events" | sed 's/^osprey/python peer/'
kill -TERM "${pids[-1]}"; wait "${pids[-1]}" || true

# Events at the steady rate, stamped with the wall clock, into topic $1.
steady_stream() {
    $pin_side $py Deploy/tools/generate_events.py payments --count $((rate * seconds)) --rate "$rate" --now --wall-clock-times \
        --entities 100000 --kafka "$OSPREY_KAFKA_BOOTSTRAP" --topic "$1"
}

echo "== the broker alone: one produce -> consume hop at $rate events/s for $seconds s"
# Osprey's path below is two such hops (events in, decisions out); this
# reader stands where Osprey's consumer will, with the latency reader's settings.
$pin_osprey $py Deploy/bench/pipeline_measure.py hop "$OSPREY_KAFKA_BOOTSTRAP" hop-payments "$((seconds + 3))" &
measure=$!
sleep 5
steady_stream hop-payments
wait "$measure"

echo "== latency at $rate events/s for $seconds s"
OSPREY_GROUP_ID=bench-latency OSPREY_INPUT_TOPICS=lat-payments OSPREY_OUTPUT_TOPIC=lat-decisions \
    $pin_osprey .build/release/osprey run --config Deploy/examples/payments/osprey.yaml 2>"$work/osprey-latency.log" &
pids+=($!)
sleep 5
$pin_side $py Deploy/bench/pipeline_measure.py latency "$OSPREY_KAFKA_BOOTSTRAP" lat-decisions "$((seconds + 3))" &
measure=$!
steady_stream lat-payments
wait "$measure"
kill -TERM "${pids[-1]}"; wait "${pids[-1]}" || true

echo "== python peer: latency at $rate events/s for $seconds s"
$pin_osprey $py Deploy/bench/python_peer.py "$OSPREY_KAFKA_BOOTSTRAP" bench-python-latency lat-py-payments lat-py-decisions "$model" &
pids+=($!)
sleep 5
$pin_side $py Deploy/bench/pipeline_measure.py latency "$OSPREY_KAFKA_BOOTSTRAP" lat-py-decisions "$((seconds + 3))" &
measure=$!
steady_stream lat-py-payments
wait "$measure"
