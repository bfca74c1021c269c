#!/usr/bin/env bash
# Installs what is missing, builds kiln with its tests, and runs the whole suite.
#   scripts/test.sh                   the Release build in build/
#   scripts/test.sh --sanitize        the same suite built by clang with ASan + UBSan, in
#                                     build-sanitize/ (about 30 minutes on 2 cores)
#   scripts/test.sh --sanitize-quick  what CI runs of it: the unit tests of the libraries that
#                                     read untrusted input (support, ir, frontend, passes, runtime)
#                                     and the fuzz regressions; the LLVM-heavy codegen, PyTorch
#                                     parity and end-to-end tests are in --sanitize only
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
if [[ $mode == --sanitize || $mode == --sanitize-quick ]]; then
  scripts/install_deps.sh --sanitize
  source scripts/sanitize_env.sh
  labels=()
  if [[ $mode == --sanitize-quick ]]; then
    export KILN_TARGETS="tests/support/all tests/ir/all tests/frontend/all tests/passes/all
                         tests/runtime/all tests/fuzz/all"
    labels=(-L '^(support|ir|frontend|passes|runtime|fuzz)$')
  fi
  KILN_BUILD_DIR=$SANITIZE_BUILD_DIR scripts/build.sh "${SANITIZE_CMAKE_ARGS[@]}"
  ctest --test-dir "$SANITIZE_BUILD_DIR" --output-on-failure -j2 --timeout 1200 "${labels[@]}"
  exit 0
fi
scripts/install_deps.sh
scripts/build.sh -DKILN_BUILD_TESTS=ON
ctest --test-dir build --output-on-failure -j2
