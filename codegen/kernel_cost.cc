#include "codegen/kernel_cost.h"

#include "ir/op_registry.h"

namespace kiln::codegen {

double KernelFlops(const ir::Graph& graph, const ir::Kernel& kernel) {
  double flops = 0.0;
  for (ir::NodeId id : kernel.nodes) {
    const ir::Node& node = graph.node(id);
    const ir::OpDef& def = ir::OpOf(node);
    if (def.Has(ir::kContraction)) {
      const ir::Shape& a = graph.node(node.operands[0]).type.shape;
      int64_t k = node.attrs.GetInt("transpose_a") ? a[0] : a[1];
      flops += 2.0 * node.type.num_elements() * k;
    } else if (!def.Has(ir::kGenerator)) {
      flops += static_cast<double>(node.type.num_elements());
    }
  }
  return flops;
}

int64_t KernelBytes(const ir::Graph& graph, const ir::Kernel& kernel) {
  int64_t bytes = 0;
  for (ir::NodeId id : kernel.inputs) bytes += graph.node(id).type.bytes();
  for (ir::NodeId id : kernel.outputs) bytes += graph.node(id).type.bytes();
  return bytes;
}

}  // namespace kiln::codegen
