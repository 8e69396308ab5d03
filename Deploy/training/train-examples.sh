#!/usr/bin/env bash
# Produces the example models with the training loop: for each example,
# generated labelled events (Deploy/tools/generate_events.py, fixed seed) go
# through Deploy/training/train.py into Deploy/examples/<example>/models/.
#
#   Deploy/training/train-examples.sh [VERSION]     (default v1; an existing version is kept)
set -euo pipefail
cd "$(dirname "$0")/../.."
version="${1:-v1}"
command -v swift >/dev/null 2>&1 || export PATH="$PATH:/opt/swift/usr/bin"
source Deploy/scripts/kafka-env.sh
osprey_install_training_deps
swift build -c release --product osprey >/dev/null
py=.venv-kafka/bin/python
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for example in payments clicks; do
    target="Deploy/examples/$example/models/$example/$version"
    if [ -d "$target" ]; then echo "$target exists; kept"; continue; fi
    $py Deploy/tools/generate_events.py "$example" --count 60000 --entities 3000 --rate 20 \
        --out "$work/$example.jsonl" --labels "$work/$example-labels.csv"
    $py Deploy/training/train.py --config "Deploy/examples/$example/osprey.yaml" --events "$work/$example.jsonl" \
        --labels "$work/$example-labels.csv" --registry "Deploy/examples/$example/models" --name "$example" \
        --version "$version" --osprey .build/release/osprey
done
