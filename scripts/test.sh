#!/usr/bin/env bash
# Installs what is missing, builds kiln with its tests, and runs the whole suite.
#   scripts/test.sh             the Release build in build/
#   scripts/test.sh --sanitize  the same suite built by clang with ASan + UBSan in build-sanitize/
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ${1:-} == --sanitize ]]; then
  scripts/install_deps.sh --sanitize
  source scripts/sanitize_env.sh
  KILN_BUILD_DIR=$SANITIZE_BUILD_DIR scripts/build.sh "${SANITIZE_CMAKE_ARGS[@]}"
  ctest --test-dir "$SANITIZE_BUILD_DIR" --output-on-failure -j2 --timeout 1200
  exit 0
fi
scripts/install_deps.sh
scripts/build.sh -DKILN_BUILD_TESTS=ON
ctest --test-dir build --output-on-failure -j2
