// The order kiln import writes an ONNX graph's nodes in: every node after the producers of its
// inputs. ONNX requires graphs to be sorted already; a file that is not (or has a cycle, or two
// producers of one value) is reported rather than trusted.
#ifndef KILN_INTEROP_ONNX_TOPOLOGICAL_ORDER_H_
#define KILN_INTEROP_ONNX_TOPOLOGICAL_ORDER_H_

#include <vector>

#include "absl/status/statusor.h"
#include "onnx/onnx.pb.h"

namespace kiln::interop {

// Node indices of `graph`, producers first (stable: already-sorted graphs keep their order).
// A cycle is "the graph has a cycle through node 'n' (Add)".
absl::StatusOr<std::vector<int>> TopologicalOrder(const onnx::GraphProto& graph);

}  // namespace kiln::interop

#endif  // KILN_INTEROP_ONNX_TOPOLOGICAL_ORDER_H_
