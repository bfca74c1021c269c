// Internal to codegen/cuda: what the loop, reduction and GEMM emitters share while writing one
// kernel: buffer parameters, index arithmetic, loads through the FusedEvaluator, the signature.
#ifndef KILN_CODEGEN_CUDA_EMITTER_CONTEXT_H_
#define KILN_CODEGEN_CUDA_EMITTER_CONTEXT_H_

#include <map>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/cuda/cuda_scalar_builder.h"
#include "codegen/cuda/kernel_emitter.h"
#include "codegen/fused_evaluator.h"
#include "ir/kernel_program.h"

namespace kiln::cuda {

// Threads per block of elementwise kernels and row reductions: 8 warps.
constexpr int kBlockThreads = 256;
constexpr int kWarpSize = 32;

class EmitterContext {
 public:
  EmitterContext(const ir::Graph& graph, const ir::Kernel& kernel,
                 const ir::BufferAssignment& memory, std::string name)
      : graph_(graph), kernel_(kernel), memory_(memory), name_(std::move(name)) {}

  const ir::Graph& graph() const { return graph_; }
  const ir::Kernel& kernel() const { return kernel_; }
  const ir::Node& node(ir::NodeId id) const { return graph_.node(id); }
  const std::string& name() const { return name_; }

  // The parameter name of `id`'s buffer ("b3"); records a read or a write of it.
  absl::StatusOr<std::string> Read(ir::NodeId id);
  absl::StatusOr<std::string> Write(ir::NodeId id);

  // A row-major linear index expression of `coords` in `shape` (size-1 dims skipped).
  static std::string LinearIndex(const CudaScalarBuilder& sb,
                                 std::span<const kernel::Value> coords, const ir::Shape& shape);
  // Coordinates (i64 values) of linear index `index` (an expression) in `shape`.
  static std::vector<kernel::Value> Coordinates(CudaScalarBuilder& sb, const std::string& index,
                                                const ir::Shape& shape);
  // Loads from kernel inputs at given coordinates; the first load error is kept in status().
  codegen::FusedEvaluator::LoadFn Loader(CudaScalarBuilder& sb);
  // `b5[index] = v;` for one of the kernel's outputs.
  absl::Status Store(CudaScalarBuilder& sb, ir::NodeId out, const std::string& index,
                     kernel::Value v);

  const absl::Status& status() const { return status_; }

  // `extern "C" __global__ void __launch_bounds__(threads) name(params...)`, from the buffers
  // recorded so far; fills param_slots.
  std::string Signature(int max_threads, std::vector<int>& param_slots) const;

 private:
  absl::StatusOr<int> Slot(ir::NodeId id) const;

  const ir::Graph& graph_;
  const ir::Kernel& kernel_;
  const ir::BufferAssignment& memory_;
  std::string name_;
  std::map<int, ir::DType> dtype_;   // Per used buffer.
  std::map<int, bool> written_;      // Per used buffer.
  std::map<int, bool> read_;
  absl::Status status_;
};

// Element type of a node in generated code.
kernel::ScalarType ScalarTypeOf(ir::DType dtype);
int64_t CeilDiv(int64_t a, int64_t b);

absl::StatusOr<CudaKernel> EmitReductionKernel(EmitterContext& k);
absl::StatusOr<CudaKernel> EmitMatmulKernel(EmitterContext& k);

}  // namespace kiln::cuda

#endif  // KILN_CODEGEN_CUDA_EMITTER_CONTEXT_H_
