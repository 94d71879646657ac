#!/usr/bin/env bash
# The placement property tests' whole sweep (every sampled node count and
# replication factor, 3 to 100 nodes) on a release build. The suite
# (Scripts/test.sh) runs a quick sample of the same tests on its debug build.
# Usage: Scripts/property-tests.sh
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/bootstrap.sh
STRATA_FULL_PROPERTIES=1 swift test -c release --scratch-path .build-release --filter StrataClusterTests
