// What the passes that rewrite sums (factor-sums, split-sums) ask of a reduction.
#ifndef KILN_PASSES_SUMS_H_
#define KILN_PASSES_SUMS_H_

#include <algorithm>
#include <cstdint>
#include <vector>

#include "ir/graph.h"
#include "ir/op_registry.h"

namespace kiln::passes {

// An f32 sum reduction (reduce_sum, or any op with the kReduction trait and ReduceKind::kSum).
inline bool IsF32Sum(const ir::Node& node) {
  const ir::OpDef& def = ir::OpOf(node);
  return def.Has(ir::kReduction) && def.reduce_kind == ir::ReduceKind::kSum &&
         node.type.dtype == ir::DType::kF32;
}

// The sum's dims over an operand of rank `rank`, each in [0, rank), ascending.
inline std::vector<int64_t> SummedDims(const ir::Node& sum, int64_t rank) {
  std::vector<int64_t> dims = sum.attrs.GetInts("dims");
  for (int64_t& d : dims) d = d < 0 ? d + rank : d;
  std::sort(dims.begin(), dims.end());
  return dims;
}

}  // namespace kiln::passes

#endif  // KILN_PASSES_SUMS_H_
