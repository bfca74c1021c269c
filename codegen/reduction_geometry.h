// What a reduction kernel folds, in the terms every backend's emitter plans with: the operand, its
// reduced and kept dims, and whether the reduced dims are all innermost ("trailing", rows) or not
// (columns, e.g. bias gradients and batch-norm statistics). One analysis for codegen/cpu and
// codegen/cuda; sums then follow codegen/summation_plan.h.
#ifndef KILN_CODEGEN_REDUCTION_GEOMETRY_H_
#define KILN_CODEGEN_REDUCTION_GEOMETRY_H_

#include <vector>

#include "absl/status/statusor.h"
#include "ir/kernel_program.h"
#include "ir/op_def.h"

namespace kiln::codegen {

struct ReductionGeometry {
  ir::ReduceKind kind = ir::ReduceKind::kSum;
  ir::NodeId operand = ir::kNoNode;
  ir::Shape in_shape;
  std::vector<bool> reduced;  // Per operand dim.
  bool trailing = true;       // Every reduced dim is after every kept one.
  ir::Shape kept_shape, reduced_shape;
};

// The geometry of `kernel`'s root reduction. Errors: a non-f32 operand, which no backend folds.
absl::StatusOr<ReductionGeometry> AnalyzeReduction(const ir::Graph& graph,
                                                   const ir::Kernel& kernel);

}  // namespace kiln::codegen

#endif  // KILN_CODEGEN_REDUCTION_GEOMETRY_H_
