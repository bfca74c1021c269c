// The low-level program a graph lowers to: kernels in execution order, each computing a fused
// group of graph nodes, and the buffers they read and write, laid out in one arena. Passes build
// it (passes/fuse_kernels, passes/plan_memory); backends translate it (codegen/cpu, codegen/cuda).
#ifndef KILN_IR_KERNEL_PROGRAM_H_
#define KILN_IR_KERNEL_PROGRAM_H_

#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace kiln::ir {

enum class KernelKind {
  kLoop,       // Elementwise/index-map nodes over one iteration shape; may store several outputs.
  kReduction,  // `root` is a reduction; elementwise producers are fused into its loads.
  kMatmul,     // `root` is a matmul; elementwise consumers are fused into its epilogue.
};

// A producer→consumer edge that enters a kernel from another one: the consumer, computed inside,
// reads the producer's stored value. `reason` says why fusion kept them apart; it is what
// `kiln compile --emit=fusion` prints under "not fused".
struct UnfusedEdge {
  NodeId producer = kNoNode;     // Computed by another kernel (reshape views followed back).
  NodeId consumer = kNoNode;     // Computed inside this kernel.
  std::string reason;            // E.g. "producer has users in 2 kernels and exp is too costly...".
};

struct Kernel {
  std::string name;              // Unique symbol-safe name, e.g. "k4_matmul_add_relu".
  KernelKind kind = KernelKind::kLoop;
  NodeId root = kNoNode;         // The reduction/matmul; for kLoop, the first output.
  std::vector<NodeId> nodes;     // Every node computed inside, in topological order.
  std::vector<NodeId> outputs;   // Nodes whose values the kernel stores to their buffers.
  std::vector<NodeId> inputs;    // Nodes read from buffers (leaves or other kernels' outputs).
  std::vector<UnfusedEdge> unfused_inputs;  // Inputs other kernels compute, and why; by producer.
};

enum class BufferKind { kInput, kPersistent, kOutput, kTemp };

struct Buffer {
  std::string name;              // Leaf name, output name, or "t<node id>".
  BufferKind kind = BufferKind::kTemp;
  TensorType type;
  int64_t offset = 0;            // Arena offset for kOutput/kTemp, 64-byte aligned.
  NodeId defined_by = kNoNode;
};

struct BufferAssignment {
  std::vector<int> node_buffer;  // Per node: index into `buffers`, or -1 if never materialized.
  std::vector<Buffer> buffers;
  int64_t arena_bytes = 0;       // With reuse (the planned peak).
  int64_t unshared_bytes = 0;    // What one buffer per value would need.
};

struct KernelProgram {
  Graph graph;                   // The final graph the kernels refer to.
  std::vector<Kernel> kernels;   // Execution order.
  BufferAssignment memory;
};

}  // namespace kiln::ir

#endif  // KILN_IR_KERNEL_PROGRAM_H_
