#!/usr/bin/env bash
# The HTTP scorer under load: wrk posts single events to /v1/score of a daemon
# holding the payments example's state (100k cards), first alone, then while
# events stream through at RATE/s; prints wrk's throughput and latency
# percentiles and the stream's throughput in both runs. Then the same wrk
# load against the Python peer, Deploy/bench/fastapi_peer.py (FastAPI on
# uvicorn with 2 workers, XGBoost, the same 100k cards of state), alone.
#
#   Deploy/bench/http-bench.sh [SECONDS] [RATE]
# Needs wrk (apt-get install wrk). OSPREY_BENCH_SKIP_BUILD=1 reuses the release build;
# OSPREY_BENCH_LINGER_MS sets how long the event producers batch (default 50).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-15}"
rate="${2:-5000}"
linger="${OSPREY_BENCH_LINGER_MS:-50}"
command -v swift >/dev/null 2>&1 || export PATH="$PATH:/opt/swift/usr/bin"
command -v wrk >/dev/null 2>&1 || { apt-get install -y wrk >/dev/null 2>&1 || sudo apt-get install -y wrk >/dev/null; }
source Deploy/scripts/kafka-env.sh
osprey_install_training_deps
.venv-kafka/bin/python -c "import fastapi, uvicorn, uvloop, httptools" 2>/dev/null || .venv-kafka/bin/pip install -q fastapi==0.165.0 "uvicorn[standard]==0.54.0"
[ "${OSPREY_BENCH_SKIP_BUILD:-0}" = 1 ] || swift build -c release --product osprey >/dev/null
py=.venv-kafka/bin/python
work="$(mktemp -d)"
pid=""
peer=""
cleanup() {
    for p in $pid $peer; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    broker_stop
    rm -rf "$work"
}
trap cleanup EXIT
# User plus system CPU time of a process, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
broker_start
for t in payments payments-decisions; do create_topic "$t" 6; done
create_topic payments-dlq 1
echo "== loading state: 300k events over 100k cards"
# Both producers here batch for 50 ms (linger.ms; OSPREY_BENCH_LINGER_MS). Tansu reads through a
# partition's stored batches on every fetch, so with librdkafka's usual 5 ms
# its fetches cost it two thirds of a core on these two cores, which Osprey
# then lacks (README: HTTP port, speed). Kafka finds offsets by index and
# does not care; the payment services the stream stands for run elsewhere.
$py Deploy/tools/generate_events.py payments --count 300000 --entities 100000 --linger-ms "$linger" --kafka "$OSPREY_KAFKA_BOOTSTRAP"
OSPREY_CHECKPOINT_DIR="$work/ck" OSPREY_HTTP_PORT=18088 OSPREY_OUTPUT_INCLUDE_FEATURES=false \
    .build/release/osprey run --config Deploy/examples/payments/osprey.yaml 2>"$work/osprey.log" &
pid=$!
until curl -sf localhost:18088/readyz >/dev/null; do sleep 0.5; done
# Wait until the preloaded events are all consumed, so "alone" is alone.
until [ "$(curl -s localhost:18088/metrics | awk '/^osprey_consumer_lag/ {s+=$2} END {print s+0}')" = 0 ] \
      && [ "$(curl -s localhost:18088/metrics | awk '/^osprey_decisions_total/ {s+=$2} END {print s+0}')" -ge 299000 ]; do sleep 0.5; done
echo "== /v1/score alone for ${seconds}s"
wrk -t2 -c32 -d"${seconds}s" --latency -s Deploy/bench/score.lua http://127.0.0.1:18088 | grep -E "Requests/sec|50%|99%|Non-2xx"
echo "== /v1/score while the stream takes ${rate} events/s"
# Generated ahead, so the producer spends its CPU on producing only (a third
# of what generating on the fly took on these two cores).
$py Deploy/tools/generate_events.py payments --count $((rate * seconds)) --rate "$rate" --now --entities 100000 \
    --out "$work/stream.jsonl" 2>/dev/null
$py Deploy/tools/generate_events.py payments --from "$work/stream.jsonl" --rate "$rate" --linger-ms "$linger" \
    --kafka "$OSPREY_KAFKA_BOOTSTRAP" >/dev/null 2>&1 &
gen=$!
sleep 1  # the replay reads its file first
before=$(curl -s localhost:18088/metrics | awk '/^osprey_decisions_total/ {s+=$2} END {print s}')
cpu_broker=$(cpu_ticks "$OSPREY_BROKER_PID"); cpu_osprey=$(cpu_ticks "$pid")
wrk -t2 -c32 -d"${seconds}s" --latency -s Deploy/bench/score.lua http://127.0.0.1:18088 | grep -E "Requests/sec|50%|99%|Non-2xx"
after=$(curl -s localhost:18088/metrics | awk '/^osprey_decisions_total/ {s+=$2} END {print s}')
cpu_broker=$(( $(cpu_ticks "$OSPREY_BROKER_PID") - cpu_broker )); cpu_osprey=$(( $(cpu_ticks "$pid") - cpu_osprey ))
wait $gen
echo "stream during the HTTP load: $(( (after - before) / seconds )) decisions/s (offered ${rate}/s)"
hz=$(getconf CLK_TCK)
echo "CPU during it (% of one core): Osprey $(( cpu_osprey * 100 / hz / seconds )), broker $(( cpu_broker * 100 / hz / seconds ))"
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=""

echo "== FastAPI + XGBoost peer (uvicorn, 2 workers, same state and model), alone for ${seconds}s"
$py Deploy/tools/generate_events.py payments --count 300000 --entities 100000 --out "$work/events.jsonl" 2>/dev/null
OSPREY_PEER_MODEL=Deploy/examples/payments/models/payments/v1/model.json OSPREY_PEER_EVENTS="$work/events.jsonl" \
    .venv-kafka/bin/uvicorn fastapi_peer:app --app-dir Deploy/bench --host 127.0.0.1 --port 18089 --workers 2 --log-level warning &
peer=$!
until curl -sf -o /dev/null -X POST -d '{}' localhost:18089/v1/score || [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{}' localhost:18089/v1/score)" = 400 ]; do sleep 0.5; done
wrk -t2 -c32 -d"${seconds}s" --latency -s Deploy/bench/score.lua http://127.0.0.1:18089 | grep -E "Requests/sec|50%|99%|Non-2xx"
