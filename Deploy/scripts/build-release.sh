#!/usr/bin/env bash
# The release build of `osprey`, exactly as the container image makes it
# (Deploy/Dockerfile runs this script) and as the test suite checks it
# (Deploy/scripts/test.sh runs it and smoke-tests the result).
#
#   Deploy/scripts/build-release.sh [OUT_DIR]      (default .build/dist)
#
# Installs librdkafka-dev with apt-get when its headers are missing, builds
# with the Swift standard library and Foundation linked in statically (the
# runtime image then needs only glibc, libstdc++ and librdkafka), and copies
# the binary to OUT_DIR/bin/osprey.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-.build/dist}"
command -v swift >/dev/null 2>&1 || export PATH="$PATH:/opt/swift/usr/bin"
if ! pkg-config --exists rdkafka 2>/dev/null; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update >/dev/null
    $sudo apt-get install -y --no-install-recommends librdkafka-dev pkg-config >/dev/null
fi
swift build -c release --product osprey --static-swift-stdlib
mkdir -p "$out/bin"
cp "$(swift build -c release --product osprey --static-swift-stdlib --show-bin-path)/osprey" "$out/bin/osprey"
echo "build-release: $out/bin/osprey"
