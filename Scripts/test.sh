#!/usr/bin/env bash
# The test command: installs what is missing, then runs every test (a few minutes at most;
# tiny data only, no timings: speed lives in Scripts/bench-frontend.sh and BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh --for-tests
swift build --build-tests
# XCTest only: its "Executed N tests" summary is then the closing line (no empty Swift Testing run after it).
swift test --skip-build --disable-swift-testing "$@"
