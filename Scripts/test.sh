#!/usr/bin/env bash
# Runs Strata's whole test suite: installs what the machine lacks, builds, tests.
# Usage: Scripts/test.sh [extra `swift test` arguments, e.g. --filter Storage]
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/bootstrap.sh
swift build --build-tests
swift test --skip-build "$@"
