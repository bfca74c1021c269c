#!/usr/bin/env bash
# Configures and builds kiln (Release) into build/. Extra arguments go to CMake.
# KILN_BUILD_DIR picks another build folder; KILN_TARGETS builds only those ninja targets.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${KILN_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" > "$build_dir.log" 2>&1 ||
  { cat "$build_dir.log"; exit 1; }
# shellcheck disable=SC2086  # KILN_TARGETS is a list of target names.
ninja -C "$build_dir" -j"$(nproc)" ${KILN_TARGETS:-}
