#!/usr/bin/env bash
# Runs on the GPU machine, in the repository root, after scripts/device/bundle.sh packed .gpu/:
# unpacks kiln, then the stages asked for (default: all) —
#   tests    the `gpu`-labelled tests (every op vs the CPU, W3 steps vs the CPU, the dropout hash)
#   train    kiln train examples/fashion_mlp.kiln --device cuda (the W3 recipe, 10 epochs)
#   profile  kiln profile --device cuda (step time, per-kernel GB/s)
#   bench    bench/w3_epoch.py --device cuda (PyTorch and kiln epochs in one run)
# Logs go to $OUT (the device tool's folder) when set, else to .gpu/logs.
set -uo pipefail
cd "$(dirname "$0")/../.."
logs=${OUT:-.gpu/logs}
mkdir -p "$logs"
kiln_root=/tmp/kiln-bundle
if [ ! -x "$kiln_root/bin/kiln" ]; then
  mkdir -p "$kiln_root" && tar -C "$kiln_root" -xJf .gpu/bundle.tar.xz || exit 1
fi
find_lib() { find / -xdev -name "$1" -not -path '/proc/*' 2>/dev/null | head -1; }
nvrtc=$(find_lib 'libnvrtc.so.13'); cublaslt=$(find_lib 'libcublasLt.so.13')
export LD_LIBRARY_PATH="$kiln_root/lib:$(dirname "${nvrtc:-/x/x}"):$(dirname "${cublaslt:-/x/x}")"
export KILN_BENCH_DATA_DIR=$PWD/.gpu/fashion-mnist
kiln=$kiln_root/bin/kiln
nvidia-smi -L
echo "nvrtc: ${nvrtc:-missing}; cublasLt: ${cublaslt:-missing}"
stages=${*:-tests train profile bench}
status=0
for stage in $stages; do
  case $stage in
    tests)
      for test in "$kiln_root"/bin/*_gpu_test; do
        "$test" --gtest_brief=1 > "$logs/$(basename "$test").log" 2>&1
        rc=$?; status=$((status | rc))
        echo "$(basename "$test"): exit $rc; $(grep -E '^\[  (PASSED|FAILED)  \]|tests? ran' "$logs/$(basename "$test").log" | tr '\n' ' ')"
        grep -E '^\[  FAILED  \]' "$logs/$(basename "$test").log" | head -20
      done ;;
    train)
      "$kiln" train examples/fashion_mlp.kiln --device cuda --data-dir "$KILN_BENCH_DATA_DIR" \
        --metrics-out "$logs/w3_cuda_metrics.json" 2>&1 | tee "$logs/w3_cuda_train.log" | tail -14
      status=$((status | PIPESTATUS[0])) ;;
    profile)
      "$kiln" profile examples/fashion_mlp.kiln --device cuda 2>&1 | tee "$logs/w3_cuda_profile.log"
      status=$((status | PIPESTATUS[0])) ;;
    bench)
      python3 bench/w3_epoch.py --device cuda --kiln "$kiln" --repeats 3 2>&1 | tee "$logs/w3_cuda_bench.log"
      status=$((status | PIPESTATUS[0])) ;;
    *) echo "unknown stage $stage"; status=1 ;;
  esac
done
exit $status
