# Sourced by test.sh --sanitize and fuzz.sh: one build folder serves the sanitized test suite and
# the fuzz targets, both compiled by clang with ASan + UBSan (and libFuzzer's coverage hooks).
SANITIZE_BUILD_DIR=build-sanitize
SANITIZE_CMAKE_ARGS=(
  -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19
  -DKILN_SANITIZE=ON -DKILN_FUZZ=ON -DKILN_BUILD_TESTS=ON
  # -O1 and line tables: readable reports, and a build much faster than -O3 with debug info.
  # (Generated kernels are optimized by kiln's own pipeline either way.)
  "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -gline-tables-only" "-DCMAKE_C_FLAGS_RELEASE=-O1 -gline-tables-only"
)
# cuBLASLt leaks a little when it fails to start without a GPU; that is NVIDIA's, not kiln's.
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp:print_suppressions=0"
# allocator_may_return_null: a failed allocation returns null (kiln turns it into a Status), as
# without ASan, instead of ASan aborting the process.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
