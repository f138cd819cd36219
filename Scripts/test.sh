#!/usr/bin/env bash
# The test command: installs what is missing, then runs every test (a few minutes at most;
# tiny data only, no timings: speed lives in Scripts/bench-frontend.sh and BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh --no-build
swift build --build-tests
swift test --skip-build "$@"
