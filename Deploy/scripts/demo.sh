#!/usr/bin/env bash
# Osprey on a fresh machine, end to end: installs what it needs, builds the
# release binary, starts a local Kafka-protocol broker (Tansu), creates the
# topics, runs Osprey on the payments (or clicks) example and feeds it
# generated events; decisions are printed as they flow. Ctrl-C stops everything
# (Osprey gets SIGTERM and shuts down cleanly).
#
#   Deploy/scripts/demo.sh [payments|clicks] [events-per-second]
set -euo pipefail
cd "$(dirname "$0")/../.."
example="${1:-payments}"
rate="${2:-200}"
command -v swift >/dev/null 2>&1 || export PATH="$PATH:/opt/swift/usr/bin"

source Deploy/scripts/kafka-env.sh
osprey_install_kafka_deps
echo "== building the release binary (first time: a few minutes)"
swift build -c release --product osprey >/dev/null

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    broker_stop
}
trap cleanup EXIT INT TERM

broker_start
Topics/create-topics.sh "$OSPREY_KAFKA_BOOTSTRAP" "$example"

mkdir -p .osprey-data
.build/release/osprey run --config "Deploy/examples/$example/osprey.yaml" 2> >(sed 's/^/[osprey] /' >&2) &
pids+=($!)
.venv-kafka/bin/python Deploy/tools/generate_events.py "$example" --count 0 --rate "$rate" --now --bad-rate 0.01 \
    --kafka "$OSPREY_KAFKA_BOOTSTRAP" --topic "$example" &
pids+=($!)

echo "== decisions on $example-decisions (Ctrl-C to stop)"
.venv-kafka/bin/python - "$OSPREY_KAFKA_BOOTSTRAP" "$example" <<'PY'
import json, sys, time
from confluent_kafka import Consumer
bootstrap, example = sys.argv[1], sys.argv[2]
c = Consumer({"bootstrap.servers": bootstrap, "group.id": "osprey-demo-viewer", "auto.offset.reset": "latest",
              "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
c.subscribe([f"{example}-decisions", f"{example}-dlq"])
counts, last = {}, time.time()
try:
    while True:
        m = c.poll(0.5)
        if m is not None and not m.error():
            if m.topic().endswith("-dlq"):
                h = dict(m.headers() or [])
                counts["dead letter"] = counts.get("dead letter", 0) + 1
                if counts["dead letter"] <= 5:
                    print(f"dead letter: {h.get('osprey.error.reason', b'').decode()}: {h.get('osprey.error.message', b'').decode()}")
                continue
            d = json.loads(m.value())
            counts[d["decision"]] = counts.get(d["decision"], 0) + 1
            if d["decision"] != "approve":
                reasons = ", ".join(f"{r['feature']}={r['value']}" for r in d["reasons"])
                print(f"{d['decision']:8} {d['entity']} score={d['score']:.3f} because {reasons}")
        if time.time() - last > 5:
            print("decisions so far:", counts)
            last = time.time()
except KeyboardInterrupt:
    pass
PY
