// What a fused kernel computes and moves, counted from the IR (not from buffer sizes or
// hardware counters), so `kiln profile` and `kiln bench` can place it on the roofline.
//
//   double flops = KernelFlops(program.graph, kernel);  // matmul m x k x n: 2mnk
//   int64_t bytes = KernelBytes(program.graph, kernel);  // its inputs read once, outputs written
//   once
#ifndef KILN_CODEGEN_KERNEL_COST_H_
#define KILN_CODEGEN_KERNEL_COST_H_

#include <cstdint>

#include "ir/graph.h"
#include "ir/kernel_program.h"

namespace kiln::codegen {

// Matmuls count 2mnk; every other op one operation per computed element; generators (iota,
// constants) none.
double KernelFlops(const ir::Graph& graph, const ir::Kernel& kernel);

// The minimum traffic: every input the kernel reads from a buffer once, every output it stores
// once. Values computed and consumed inside the kernel cost nothing; that is what fusion saves.
int64_t KernelBytes(const ir::Graph& graph, const ir::Kernel& kernel);

}  // namespace kiln::codegen

#endif  // KILN_CODEGEN_KERNEL_COST_H_
