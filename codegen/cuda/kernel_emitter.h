// Emits one fused kernel (ir::Kernel) as a CUDA C `extern "C" __global__` function plus the launch
// geometry it was written for. Kernel ABI: the parameters are the base pointers of the buffers
// the kernel touches, one per distinct buffer, in increasing buffer index (`param_slots`); a
// buffer only read is `const T* __restrict__`. Launching is cuLaunchKernel(function, grid, block,
// shared_bytes, stream, args) with args[i] = &device_pointer_of(param_slots[i]).
//
// Strategies (see docs/cuda.md):
//   kElementwise  loop kernels: grid-stride loop, one thread per output element.
//   kVectorElementwise  loop kernels of at least 1024 elements, a multiple of 4: four
//                 consecutive elements per thread, operands read whole as float4 (HBM needs
//                 more bytes in flight per thread than one float).
//   kWarpPerRow   reductions over innermost dims with a short row: one warp per output element,
//                 __shfl_down_sync tree (argmax carries (value, index), first maximum wins).
//   kBlockPerRow  reductions over innermost dims with a long row: one block per output element,
//                 warp shuffles then a shared-memory stage across warps.
//   kColumn       reductions over outer dims (bias gradients): threadIdx.x over the kept
//                 innermost dim (coalesced), threadIdx.y splits the reduced range, shared-memory
//                 combine in a fixed order.
//   kTiledGemm    matmuls: 64x64x16 shared-memory tiles, 4x4 outputs per thread, the fused
//                 epilogue evaluated per output element; a cuBLASLt plan is recorded beside it.
#ifndef KILN_CODEGEN_CUDA_KERNEL_EMITTER_H_
#define KILN_CODEGEN_CUDA_KERNEL_EMITTER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/kernel_program.h"

namespace kiln::cuda {

struct Dim3 {
  int64_t x = 1, y = 1, z = 1;
  int64_t total() const { return x * y * z; }
};

struct LaunchConfig {
  Dim3 grid;
  Dim3 block;
  int64_t shared_bytes = 0;  // Dynamic shared memory (the kernels here use static arrays: 0).
};

// Elements per thread of the kVectorElementwise strategy (one float4).
inline constexpr int kVectorElements = 4;

enum class Strategy {
  kElementwise,
  kVectorElementwise,
  kWarpPerRow,
  kBlockPerRow,
  kColumn,
  kTiledGemm
};
const char* StrategyName(Strategy strategy);

// What cuBLASLt could do for a matmul kernel instead of the generated GEMM.
enum class GemmEpilogue { kNone, kBias, kRelu, kBiasRelu, kGeneric };
const char* GemmEpilogueName(GemmEpilogue epilogue);

// Row-major C[M,N] = op(A)·op(B) maps to cuBLASLt's column-major form as C^T = op(B)^T·op(A)^T:
// call it with (m, n) = (N, M), A and B swapped; the bias (length N) is then cuBLASLt's per-row
// bias vector (CUBLASLT_EPILOGUE_BIAS / RELU_BIAS).
struct GemmPlan {
  int64_t m = 0, n = 0, k = 0;
  bool transpose_a = false, transpose_b = false;
  int a_slot = -1, b_slot = -1, c_slot = -1;
  int bias_slot = -1;                  // For kBias / kBiasRelu.
  GemmEpilogue epilogue = GemmEpilogue::kNone;
  bool cublaslt_representable = false;
  std::string reason;                  // Why not, when not representable.
};

struct CudaKernel {
  std::string name;                    // The extern "C" symbol.
  ir::KernelKind kind = ir::KernelKind::kLoop;
  Strategy strategy = Strategy::kElementwise;
  std::string source;                  // The __global__ function (needs kernel_preamble()).
  std::vector<int> param_slots;        // Buffer indices, in parameter order.
  LaunchConfig launch;
  std::optional<GemmPlan> gemm;        // kMatmul only.
  // A kernel rooted at a collective (all_reduce) computes the local value; the runtime then
  // averages this buffer over the ranks (runtime::DeviceKernel::all_reduce_slot). -1: none.
  int all_reduce_slot = -1;
};

// Device helpers every kernel source relies on (warp reductions); put once per program.
const std::string& KernelPreamble();

// `name` overrides kernel.name as the symbol (e.g. prefixed by the entry point).
absl::StatusOr<CudaKernel> EmitCudaKernel(const ir::Graph& graph, const ir::Kernel& kernel,
                                          const ir::BufferAssignment& memory,
                                          const std::string& name);

// Drops `const T vN = ...;` lines whose value is never used (repeatedly, so chains of dead values
// go too). The element formulas compute things some kernels do not need (coordinates of
// broadcast dims); NVRTC would warn about each unused local.
std::string RemoveUnusedValues(const std::string& source);

}  // namespace kiln::cuda

#endif  // KILN_CODEGEN_CUDA_KERNEL_EMITTER_H_
