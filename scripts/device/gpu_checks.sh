#!/usr/bin/env bash
# Runs on the GPU machine, in the repository root, after scripts/device/bundle.sh packed .gpu/:
# unpacks kiln, then the stages asked for (default: all) —
#   env        the GPU, the libraries kiln loads, and a CUDA probe
#   tests      the `gpu`-labelled tests (every op vs the CPU, W3 steps vs the CPU, the dropout hash);
#              a test that skips for want of a device counts as a failure
#   train      kiln train examples/fashion_mlp.kiln --device cuda (the W3 recipe, 10 epochs)
#   profile    kiln profile --device cuda at the recipe's batch (64) and at a large batch, where the
#              elementwise kernels are bandwidth-bound (per-kernel GB/s)
#   wide       kiln profile --device cuda of bench/peers/models/wide_mlp.kiln (784-4096-4096-10) at
#              batch 4096, with SGD and with Adam: optimizer updates of 16.8M-element weights and
#              4096x4096 activations, large enough to measure the fused kernels' bandwidth
#   copy       the GPU's device-to-device copy bandwidth through PyTorch (the reference for GB/s)
#   bench      bench/w3_epoch.py --device cuda (PyTorch and kiln epochs in one run)
#   mpi        when the machine has mpirun: `mpirun -np 2 kiln train --device cuda` on a machine
#              with one GPU must stop both ranks with the one-GPU-per-rank message, and -np 1 train
#              (the data-parallel tests themselves are in `tests`: NCCL in a world of one, since
#              NCCL refuses two ranks on one GPU)
# Every stage runs under its own time limit (seconds: KILN_STAGE_LIMIT, default 240) so that one
# hang cannot use up the GPU lease. Logs go to .gpu/logs, and packed as one file into $OUT (the
# device tool's folder, which returns only a few files) when that is set.
set -uo pipefail
cd "$(dirname "$0")/../.."
logs=.gpu/logs
mkdir -p "$logs"
limit=${KILN_STAGE_LIMIT:-240}
kiln_root=/tmp/kiln-bundle
if [ ! -x "$kiln_root/bin/kiln" ]; then
  mkdir -p "$kiln_root" && tar -C "$kiln_root" -xJf .gpu/bundle.tar.xz || exit 1
fi
# The driver's libcuda.so.1 sits on its own mount (/usr/local/nvidia on the lent machines) and is
# usually found through the image's LD_LIBRARY_PATH, which is therefore kept.
find_lib() {
  find /usr/local/nvidia /usr/local/cuda/ /usr/lib /usr/lib64 /opt -name "$1" 2>/dev/null | head -1
}
nvrtc=$(find_lib 'libnvrtc.so.13'); cublaslt=$(find_lib 'libcublasLt.so.13')
libcuda=$(find_lib 'libcuda.so.1')
# NCCL (data-parallel CUDA): the toolkit's, else the one Python's nvidia-nccl or torch carries.
nccl=$(find_lib 'libnccl.so.2')
if [ -z "$nccl" ]; then
  nccl=$(find /usr/local /root /home -name 'libnccl.so.2' 2>/dev/null | head -1)
fi
export LD_LIBRARY_PATH="$kiln_root/lib:$(dirname "${nvrtc:-/x/x}"):$(dirname "${cublaslt:-/x/x}"):$(dirname "${libcuda:-/x/x}"):$(dirname "${nccl:-/x/x}")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export KILN_BENCH_DATA_DIR=$kiln_root/fashion-mnist
export KILN_CACHE_DIR=/tmp/kiln-cache
kiln=$kiln_root/bin/kiln
stages=${*:-env tests train profile wide copy bench}
status=0
run_stage() {  # name command...: runs under the time limit, output to the log and the terminal
  local name=$1; shift
  local start=$SECONDS
  timeout --kill-after=10 "$limit" "$@" > "$logs/$name.log" 2>&1
  local rc=$?
  echo "== $name: exit $rc in $((SECONDS - start)) s"
  return $rc
}
for stage in $stages; do
  case $stage in
    env)
      nvidia-smi -L
      echo "nvrtc: ${nvrtc:-missing}; cublasLt: ${cublaslt:-missing}; libcuda: ${libcuda:-missing}"
      echo "nccl: ${nccl:-missing}; mpirun: $(command -v mpirun || echo missing)"
      ldd "$kiln" | grep -i "not found"
      "$kiln" train examples/fashion_mlp.kiln --device cuda --epochs 1 --train-limit 256 \
        --test-limit 256 --data-dir "$KILN_BENCH_DATA_DIR" 2>&1 | tail -4 ;;
    tests)
      for test in "$kiln_root"/bin/*_gpu_test; do
        name=$(basename "$test")
        run_stage "$name" "$test" --gtest_brief=1; rc=$?
        # Leaf ops and exempt ops skip by design; a test skipped for want of a device fails here.
        skipped=$(grep -c 'no CUDA device\|NCCL: ' "$logs/$name.log")
        if ((skipped > 0)); then rc=$((rc | 1)); fi
        status=$((status | rc))
        echo "   $(grep -E '^\[  (PASSED|FAILED|SKIPPED)  ?\]|tests? ran' "$logs/$name.log" | tr '\n' ' ')"
        grep -E '^\[  (FAILED|SKIPPED) \]' "$logs/$name.log" | sort -u | head -25
        grep -E -B2 -A6 'Failure$' "$logs/$name.log" | head -60
      done ;;
    train)
      run_stage w3_cuda_train "$kiln" train examples/fashion_mlp.kiln --device cuda \
        --data-dir "$KILN_BENCH_DATA_DIR" --metrics-out "$logs/w3_cuda_metrics.json"
      status=$((status | $?)); tail -14 "$logs/w3_cuda_train.log" ;;
    profile)
      run_stage w3_cuda_profile "$kiln" profile examples/fashion_mlp.kiln --device cuda
      status=$((status | $?)); head -60 "$logs/w3_cuda_profile.log"
      run_stage w3_cuda_profile_b16k "$kiln" profile examples/fashion_mlp.kiln --device cuda \
        --batch-size 16384 --iterations 50
      status=$((status | $?)); head -60 "$logs/w3_cuda_profile_b16k.log" ;;
    wide)
      sed 's/sgd(lr=0.01)/adam(lr=1e-3)/' bench/peers/models/wide_mlp.kiln > /tmp/wide_mlp_adam.kiln
      for model in bench/peers/models/wide_mlp.kiln /tmp/wide_mlp_adam.kiln; do
        name=profile_$(basename "$model" .kiln)
        run_stage "$name" "$kiln" profile "$model" --device cuda --batch-size 4096 --iterations 20
        status=$((status | $?)); head -50 "$logs/$name.log"
      done ;;
    copy)
      run_stage copy_bandwidth python3 -c '
import torch, time
x = torch.empty(1 << 28, dtype=torch.float32, device="cuda"); y = torch.empty_like(x)
for _ in range(3): y.copy_(x)
torch.cuda.synchronize(); t = time.perf_counter(); n = 20
for _ in range(n): y.copy_(x)
torch.cuda.synchronize(); s = (time.perf_counter() - t) / n
print("device copy of %.2f GB: %.3f ms, %.0f GB/s counting read + write" % (x.numel() * 4 / 1e9, s * 1e3, 2 * x.numel() * 4 / s / 1e9))'
      status=$((status | $?)); cat "$logs/copy_bandwidth.log" ;;
    bench)
      PYTHONUNBUFFERED=1 run_stage w3_cuda_bench python3 bench/w3_epoch.py --device cuda \
        --kiln "$kiln" --repeats 2
      status=$((status | $?)); tail -12 "$logs/w3_cuda_bench.log" ;;
    mpi)
      if ! command -v mpirun > /dev/null; then echo "== mpi: no mpirun on this machine"; continue; fi
      export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
      run_stage mpi_two_ranks_one_gpu mpirun -np 2 --oversubscribe "$kiln" train \
        examples/fashion_mlp.kiln --device cuda --epochs 1 --data-dir "$KILN_BENCH_DATA_DIR"
      rc=$?; cat "$logs/mpi_two_ranks_one_gpu.log" | tail -5
      if ((rc == 0)) || ! grep -q 'one GPU per rank' "$logs/mpi_two_ranks_one_gpu.log"; then
        status=1
      fi ;;
    *) echo "unknown stage $stage"; status=1 ;;
  esac
done
if [ -n "${OUT:-}" ]; then tar -C "$logs" -czf "$OUT/gpu_logs.tar.gz" .; fi
exit $status
