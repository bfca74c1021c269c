#!/usr/bin/env bash
# Installs what is missing, builds kiln with its tests, and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh -DKILN_BUILD_TESTS=ON
ctest --test-dir build --output-on-failure -j2
