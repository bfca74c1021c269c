// A compiled step (training or evaluation) as a Graphviz DOT graph whose clusters are its fused
// kernels: `kiln compile --emit=dot|svg --mode train|eval`. Nodes a kernel computes sit inside
// its cluster (labelled with the kernel's name, as --emit=fusion prints it); leaves sit outside,
// styled by the buffer that holds them (inputs green ovals, persistent parameters and state tan
// boxes); each write-back of an update is a dashed edge to the tensor it replaces.
#ifndef KILN_TOOLS_STEP_GRAPH_DOT_H_
#define KILN_TOOLS_STEP_GRAPH_DOT_H_

#include <string>

#include "ir/kernel_program.h"

namespace kiln::tools {

std::string StepGraphToDot(const ir::KernelProgram& program);

}  // namespace kiln::tools

#endif  // KILN_TOOLS_STEP_GRAPH_DOT_H_
