#!/usr/bin/env bash
# Runs Strata's whole test suite: installs what the machine lacks, builds, tests.
# Unit tests run in parallel; the integration tests start real server processes
# and run one at a time, so they neither starve each other of the 2 cores nor
# block every thread of the test runner's pool. Last, Examples/ is built the
# way an application builds against Strata (by version) and run against a node.
# Usage: Scripts/test.sh [extra `swift test` arguments, e.g. --filter Storage]
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/bootstrap.sh
swift build --build-tests
if [ $# -gt 0 ]; then
  exec swift test --skip-build "$@"
fi
swift test --skip-build --skip IntegrationTests
swift test --skip-build --no-parallel --filter IntegrationTests
# An application's package depending on StrataClient by version, built and run.
Scripts/examples.sh --run
