#!/usr/bin/env bash
# Single-row scoring speed: Osprey next to the libraries themselves, on the
# same machine in the same run.
#
#   Deploy/bench/predict-bench.sh                 # both committed benchmark models
#   Deploy/bench/predict-bench.sh MODEL [INPUT]   # one model (INPUT defaults to input.csv beside it)
#
# For each model it runs `osprey predict --benchmark` and then
# Deploy/bench/predict_peers.py on the same files, one after the other, and
# prints each peer's median ns/row with its ratio to Osprey's median (a ratio
# of 5x means the peer takes five times as long per row). The "C loop" peers
# call the library's C entry point from a compiled loop, as Osprey's figure is
# measured; the others include Python overhead and are there for reference.
#
# Environment:
#   PASSES=15                      timed passes for every contender (median reported)
#   OSPREY_BENCH_SKIP_BUILD=1      use .build/release/osprey as it is
#   OSPREY_BENCH_SKIP_INSTALL=1    use .venv as it is (no pip)
#   OSPREY_BENCH_NO_TL2CGEN=1      skip TL2cgen (compiling the model takes ~20-60 s)
#
# Close other busy processes first: the machine has few cores and a second
# busy core (a build, another benchmark) shifts every figure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
PASSES=${PASSES:-15}

usage() { echo "usage: $0 [MODEL [INPUT]]" >&2; exit 2; }
MODELS=()
INPUTS=()
case $# in
0)
    MODELS=(Tests/Fixtures/models/xgb3_bench_binary_300x6/model.json
            Tests/Fixtures/models/lgb_bench_binary_300x63/model.txt)
    INPUTS=(Tests/Fixtures/models/xgb3_bench_binary_300x6/input.csv
            Tests/Fixtures/models/lgb_bench_binary_300x63/input.csv)
    ;;
1 | 2)
    MODELS=("$1")
    INPUTS=("${2:-$(dirname "$1")/input.csv}")
    ;;
*) usage ;;
esac
for f in "${MODELS[@]}" "${INPUTS[@]}"; do
    [ -f "$f" ] || { echo "no such file: $f" >&2; exit 2; }
done

# Osprey, release build.
if [ "${OSPREY_BENCH_SKIP_BUILD:-0}" != 1 ]; then
    echo "== swift build -c release" >&2
    swift build -c release --product osprey >&2
fi
OSPREY=$ROOT/.build/release/osprey
[ -x "$OSPREY" ] || { echo "no $OSPREY: run swift build -c release" >&2; exit 1; }

# The peers' Python environment (git-ignored .venv in the repo root).
if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv" >&2
    python3 -m venv .venv
    OSPREY_BENCH_SKIP_INSTALL=0
fi
PY=$ROOT/.venv/bin/python
if [ "${OSPREY_BENCH_SKIP_INSTALL:-0}" != 1 ]; then
    "$PY" -m pip install -q -r Tests/Fixtures/models/requirements.txt >&2
    if ! "$PY" -m pip install -q -r Deploy/bench/requirements.txt >&2; then
        echo "warning: tl2cgen/treelite did not install; the TL2cgen peer will be skipped" >&2
    fi
fi
PEER_ARGS=()
[ "${OSPREY_BENCH_NO_TL2CGEN:-0}" = 1 ] && PEER_ARGS+=(--no-tl2cgen)

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "osprey: $OSPREY ($(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- Sources Package.swift 2>/dev/null || echo ', uncommitted changes'))"
echo "python: $("$PY" --version 2>&1), passes: $PASSES"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
status=0
for i in "${!MODELS[@]}"; do
    model=${MODELS[$i]}
    input=${INPUTS[$i]}
    echo
    echo "=============================================================="
    echo "== $model"
    echo "== $input"
    echo "=============================================================="
    echo "-- osprey predict --benchmark"
    "$OSPREY" predict --model "$model" --input "$input" --benchmark --passes "$PASSES" | tee "$TMP/osprey.txt"
    median=$(awk '/^osprey:/ { for (i = 1; i < NF; i++) if ($i == "median") { print $(i + 1); exit } }' "$TMP/osprey.txt")
    # Osprey's own predictions, for the agreement check.
    "$OSPREY" predict --model "$model" --input "$input" --output "$TMP/osprey-predictions.csv"
    echo
    echo "-- predict_peers.py (OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE)"
    if ! OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE "$PY" Deploy/bench/predict_peers.py \
        --model "$model" --input "$input" --passes "$PASSES" \
        --reference "$TMP/osprey-predictions.csv" --reference-name "osprey predict (same rows)" ${median:+--osprey-median "$median"} "${PEER_ARGS[@]}"; then
        echo "predict_peers.py reported a failure or a prediction mismatch for $model" >&2
        status=1
    fi
done
exit $status
