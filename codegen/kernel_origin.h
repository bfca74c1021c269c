// Says what a kernel computes in the model's terms, for errors about the values it writes:
//
//   KernelOrigins origins(program.graph);
//   origins.Describe(kernel)  // "'log' (h, model.kiln:5:9) in the forward pass"
//
// A kernel of several ops lists them and names its first: "kernel k3 (sub, log, relu), first op
// 'sub' (model.kiln:5:13) in the forward pass". Gradient ops carry the location of the forward
// op they differentiate, optimizer ops that of the train section's optimizer line.
#ifndef KILN_CODEGEN_KERNEL_ORIGIN_H_
#define KILN_CODEGEN_KERNEL_ORIGIN_H_

#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/kernel_program.h"

namespace kiln::codegen {

class KernelOrigins {
 public:
  // Classifies every node of `graph` (which must outlive this object) into the step's passes.
  explicit KernelOrigins(const ir::Graph& graph);

  std::string Describe(const ir::Kernel& kernel) const;

  enum class Pass { kForward, kBackward, kUpdate };
  Pass PassOf(ir::NodeId id) const { return pass_[id]; }

 private:
  const ir::Graph& graph_;
  std::vector<Pass> pass_;
};

// "'log' (h, model.kiln:5:9)": the op, the value's name when it has one, and its location.
std::string DescribeNode(const ir::Node& node);

}  // namespace kiln::codegen

#endif  // KILN_CODEGEN_KERNEL_ORIGIN_H_
