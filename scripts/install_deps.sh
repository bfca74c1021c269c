#!/usr/bin/env bash
# Installs the Debian 12 packages kiln needs to build, test and train (as root, or via sudo).
# Quiet and quick when everything is already there. --sanitize adds clang and its sanitizer and
# libFuzzer runtimes (for scripts/test.sh --sanitize and scripts/fuzz.sh).
set -euo pipefail

packages=(
  build-essential cmake ninja-build
  llvm-19-dev llvm-19-tools liblld-19-dev
  libprotobuf-dev protobuf-compiler
  libabsl-dev
  libgtest-dev libgmock-dev libexpat1-dev
  zlib1g-dev libzstd-dev
  dataset-fashion-mnist
  graphviz
  libopenmpi-dev openmpi-bin  # data-parallel training (mpirun) and its tests
  libonnx-testdata  # ONNX's backend node tests, for tests/interop's conformance test
)
if [[ ${1:-} == --sanitize ]]; then packages+=(clang-19 libclang-rt-19-dev); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "kiln: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
