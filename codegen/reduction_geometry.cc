#include "codegen/reduction_geometry.h"

#include "absl/strings/str_cat.h"
#include "ir/op_registry.h"

namespace kiln::codegen {

absl::StatusOr<ReductionGeometry> AnalyzeReduction(const ir::Graph& graph,
                                                   const ir::Kernel& kernel) {
  const ir::Node& root = graph.node(kernel.root);
  ReductionGeometry r;
  r.kind = ir::OpOf(root).reduce_kind;
  r.operand = root.operands[0];
  const ir::TensorType& in = graph.node(r.operand).type;
  if (in.dtype != ir::DType::kF32) {
    return absl::UnimplementedError(absl::StrCat("reduction of ", in.ToString()));
  }
  r.in_shape = in.shape;
  const int rank = static_cast<int>(r.in_shape.size());
  r.reduced.assign(rank, false);
  for (int64_t d : root.attrs.GetInts("dims")) r.reduced[d < 0 ? d + rank : d] = true;
  bool seen_reduced = false;
  for (int d = 0; d < rank; ++d) {
    if (r.reduced[d]) {
      seen_reduced = true;
      r.reduced_shape.push_back(r.in_shape[d]);
    } else {
      if (seen_reduced) r.trailing = false;
      r.kept_shape.push_back(r.in_shape[d]);
    }
  }
  return r;
}

}  // namespace kiln::codegen
