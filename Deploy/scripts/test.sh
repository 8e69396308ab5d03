#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need, runs
# `swift test`, and stops whatever it started.
#
# Today the suite needs only the Swift toolchain: the XGBoost/LightGBM parity
# fixtures are committed (Tests/Fixtures/models, regenerated with
# Tests/Fixtures/models/generate_model_fixtures.py). The Kafka integration tests
# of the streaming daemon will add the broker start/stop here.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v swift >/dev/null 2>&1; then
    if [ -x /opt/swift/usr/bin/swift ]; then
        export PATH="$PATH:/opt/swift/usr/bin"
    else
        echo "test.sh: no Swift toolchain on PATH (expected swift 6.x, e.g. /opt/swift/usr/bin)" >&2
        exit 1
    fi
fi

echo "== swift $(swift --version 2>&1 | head -1)"
echo "== building and running the test suite"
# Parallel test workers would share two cores with the build; run them in one process.
swift build --build-tests
swift test --skip-build --no-parallel
