#!/usr/bin/env bash
# Seeded mutation fuzzing of the event decoder and the model loaders for a
# while (the test suite runs the same fuzzers for a few seconds).
#
#   Deploy/reliability/fuzz.sh [SECONDS] [SEED]     (default 300: 5 minutes each)
#
# Prints how many mutated events and models each target went through; any
# crash, or an accepted input that breaks a property, fails the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v swift >/dev/null 2>&1 || export PATH="$PATH:/opt/swift/usr/bin"
export OSPREY_FUZZ_SECONDS="${1:-300}"
[ -n "${2:-}" ] && export OSPREY_FUZZ_SEED="$2"
swift build --build-tests 2>&1 | tail -1
swift test --skip-build --filter "EventDecoderFuzzTests|ModelLoaderFuzzTests/mutations" 2>&1 | grep -E "fuzzing|✘|passed after|failed after"
