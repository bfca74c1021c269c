#!/usr/bin/env bash
# Packs kiln and its GPU tests for a GPU machine that has the NVIDIA driver and CUDA libraries but
# none of kiln's build dependencies (the `device` tool's machines): binaries from a build with
# -DKILN_LLVM_STATIC=ON (no libLLVM needed), the shared libraries they load except glibc,
# libstdc++ and NVRTC (the machine's own), and the Fashion-MNIST files, in one archive
# .gpu/bundle.tar.xz (git-ignored; carry it: the device tool sends at most 64 MiB per call).
# The static build needs libpolly-19-dev (LLD's LTO code pulls in LLVM's Polly extension).
#
#   cmake -S . -B build-dev -G Ninja -DKILN_LLVM_STATIC=ON -DKILN_BUILD_TESTS=ON
#   ninja -C build-dev kiln kiln_cuda_gpu_test
#   scripts/device/bundle.sh build-dev     # then run scripts/device/gpu_checks.sh there
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-dev}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib" .gpu
cp "$build/tools/kiln" "$stage/bin/"
for test in "$build"/tests/codegen/cuda/*_gpu_test; do cp "$test" "$stage/bin/"; done
for binary in "$stage"/bin/*; do ldd "$binary" | awk '/=>/ {print $3}'; done | sort -u |
  while read -r lib; do
    case "$(basename "$lib")" in
      libc.so*|libm.so*|libpthread*|libdl.so*|librt.so*|ld-linux*|libgcc_s*|libstdc++*|libnvrtc*) ;;
      *) cp -L "$lib" "$stage/lib/" ;;
    esac
  done
strip "$stage"/bin/*
# The data set uncompressed (kiln reads raw IDX files too): xz packs it better than gzip did.
mkdir -p "$stage/fashion-mnist"
for f in /usr/share/datasets/fashion-mnist/*.gz; do zcat "$f" > "$stage/fashion-mnist/$(basename "$f" .gz)"; done
# One stream with a dictionary larger than all binaries: the LLVM code they share packs once.
mkdir -p .gpu
tar -C "$stage" -cf - . | xz -T2 -9 --lzma2=preset=9,dict=512MiB > .gpu/bundle.tar.xz
du -sh "$stage" .gpu/bundle.tar.xz
