// Memory planning: gives every value a kernel writes or reads a buffer, and lays the
// intermediate ones out in one arena, reusing space once a value is dead.
//
//   KILN_ASSIGN_OR_RETURN(program.memory, PlanMemory(program.graph, program.kernels));
//   std::cerr << DescribeMemoryPlan(program.memory);
//
// Rules:
//   - `input` leaves read by a kernel get a kInput buffer, parameters and state a kPersistent one,
//     named by the leaf; the runtime owns both.
//   - Each kernel output gets an arena buffer: kOutput (named by the output) if it is a graph
//     output, else kTemp ("t<node id>").
//   - The value of an update (target <- value) is written in place into the target's persistent
//     buffer. The kernel writing it must come after every other reader of the target (only a loop
//     kernel may read and write it in the same pass), or planning fails.
//   - An alias (reshape) shares the buffer at the root of its alias chain; if it is a graph output,
//     that root becomes a kOutput.
//   - Nodes computed inline inside kernels (constants, iota, fused intermediates) get no buffer:
//     node_buffer is -1.
// Arena buffers live from the kernel that writes them through the last kernel that reads them,
// inclusive, so a buffer freed by kernel i is reused from kernel i+1 on; kOutput buffers live to
// the end. Placement is first-fit in order of decreasing size, at 64-byte aligned offsets.
#ifndef KILN_PASSES_PLAN_MEMORY_H_
#define KILN_PASSES_PLAN_MEMORY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/graph.h"
#include "ir/kernel_program.h"
#include "support/buffer_alignment.h"

namespace kiln::passes {

// Bytes an arena buffer of this type occupies: its size rounded up to kBufferAlignment.
int64_t ArenaBytes(const ir::TensorType& type);

// `kernels` in execution order. Errors (located at the offending node) for kernel lists that
// cannot run: a value read before or without being written, a node written twice, an in-place
// update that would clobber a value still to be read.
absl::StatusOr<ir::BufferAssignment> PlanMemory(const ir::Graph& graph,
                                                const std::vector<ir::Kernel>& kernels);

// One line per buffer, then "planned peak X bytes vs Y without reuse".
std::string DescribeMemoryPlan(const ir::BufferAssignment& plan);

}  // namespace kiln::passes

#endif  // KILN_PASSES_PLAN_MEMORY_H_
