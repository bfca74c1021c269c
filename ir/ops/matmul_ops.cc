// Matrix multiplication, lowered to a GEMM microkernel (codegen/cpu/gemm_emitter) whose epilogue
// absorbs the elementwise ops that follow it.
#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "ir/graph_builder.h"
#include "ir/op_registry.h"
#include "ir/ops/op_helpers.h"

namespace kiln::ir {
namespace {

using Grads = std::vector<std::optional<NodeId>>;

// C = op(A) op(B) where op transposes a stored operand when its flag is set.
//   dA = dC op(B)^T, dB = op(A)^T dC — expressed on the *stored* layouts so no transpose is
//   materialized: the GEMM reads either operand transposed.
const OpDef kMatMul = {
    .name = "matmul",
    .summary = "2-D matrix product op(a) @ op(b); attrs transpose_a, transpose_b.",
    .num_operands = 2,
    .traits = kContraction,
    .infer_type = [](std::span<const TensorType> operands,
                     const Attrs& attrs) -> absl::StatusOr<TensorType> {
      const TensorType& a = operands[0];
      const TensorType& b = operands[1];
      if (a.rank() != 2 || b.rank() != 2 || a.dtype != DType::kF32 || b.dtype != DType::kF32) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "expects two 2-D f32 matrices, got %s and %s", a.ToString(), b.ToString()));
      }
      bool ta = attrs.GetInt("transpose_a") != 0, tb = attrs.GetInt("transpose_b") != 0;
      int64_t m = ta ? a.shape[1] : a.shape[0], ka = ta ? a.shape[0] : a.shape[1];
      int64_t kb = tb ? b.shape[1] : b.shape[0], n = tb ? b.shape[0] : b.shape[1];
      if (ka != kb) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "inner dimensions differ: %s%s @ %s%s (%d vs %d)", a.ToString(), ta ? "^T" : "",
            b.ToString(), tb ? "^T" : "", ka, kb));
      }
      return TensorType{DType::kF32, {m, n}};
    },
    .gradient = [](GradContext& g) -> Grads {
      bool ta = g.node.attrs.GetInt("transpose_a") != 0;
      bool tb = g.node.attrs.GetInt("transpose_b") != 0;
      NodeId a = g.operand(0), b = g.operand(1), dc = g.output_grad;
      NodeId da = ta ? g.b.MatMul(b, dc, tb, true) : g.b.MatMul(dc, b, false, !tb);
      NodeId db = tb ? g.b.MatMul(dc, a, true, ta) : g.b.MatMul(a, dc, !ta, false);
      return {da, db};
    },
};

}  // namespace

void RegisterMatmulOps(OpRegistry& r) { r.Add(kMatMul); }

}  // namespace kiln::ir
