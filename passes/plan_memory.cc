#include "passes/plan_memory.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ir/op_registry.h"
#include "ir/printer.h"
#include "support/source_location.h"

namespace kiln::passes {
namespace {

using ir::Buffer;
using ir::BufferAssignment;
using ir::BufferKind;
using ir::Graph;
using ir::Kernel;
using ir::kNoNode;
using ir::NodeId;

constexpr int kNoKernel = -1;
constexpr int kEndOfProgram = std::numeric_limits<int>::max();

// Kernel indices [first, last], inclusive, during which a buffer must keep its contents.
struct Lifetime {
  int first = 0;
  int last = 0;
  bool Overlaps(const Lifetime& other) const { return first <= other.last && other.first <= last; }
};

class MemoryPlanner {
 public:
  MemoryPlanner(const Graph& graph, const std::vector<Kernel>& kernels)
      : graph_(graph), kernels_(kernels) {
    plan_.node_buffer.assign(graph.size(), -1);
    producer_.assign(graph.size(), kNoKernel);
    last_read_.assign(graph.size(), kNoKernel);
    update_target_.assign(graph.size(), kNoNode);
  }

  absl::StatusOr<BufferAssignment> Plan() {
    if (auto s = IndexKernelOutputs(); !s.ok()) return s;
    if (auto s = IndexUpdates(); !s.ok()) return s;
    AssignKernelOutputs();
    if (auto s = AssignKernelInputs(); !s.ok()) return s;
    if (auto s = AssignGraphOutputs(); !s.ok()) return s;
    if (auto s = CheckInPlaceUpdates(); !s.ok()) return s;
    PlaceArenaBuffers();
    return std::move(plan_);
  }

 private:
  absl::Status Error(NodeId id, const std::string& message) const {
    return absl::InternalError(FormatDiagnostic(
        graph_.node(id).loc,
        absl::StrCat("memory plan: ", message, " (", ir::PrintNode(graph_, id), ")")));
  }

  absl::Status CheckNode(const Kernel& kernel, NodeId id) const {
    if (id >= 0 && id < graph_.size()) return absl::OkStatus();
    return absl::InternalError(absl::StrCat("memory plan: kernel '", kernel.name,
                                            "' refers to node ", id, ", but the graph has ",
                                            graph_.size(), " nodes"));
  }

  // Records which kernel writes each node; a node is written by one kernel only.
  absl::Status IndexKernelOutputs() {
    for (int k = 0; k < static_cast<int>(kernels_.size()); ++k) {
      const Kernel& kernel = kernels_[k];
      for (NodeId id : kernel.outputs) {
        if (auto s = CheckNode(kernel, id); !s.ok()) return s;
        const ir::OpDef& def = ir::OpOf(graph_.node(id));
        if (def.Has(ir::kAlias) || def.IsBoundLeaf()) {
          return Error(id, absl::StrCat("kernel '", kernel.name, "' cannot write a ",
                                        graph_.node(id).op.name(), ", which has no buffer of its own"));
        }
        if (producer_[id] != kNoKernel) {
          return Error(id, absl::StrCat("written by both kernel '", kernels_[producer_[id]].name,
                                        "' and kernel '", kernel.name, "'"));
        }
        producer_[id] = k;
      }
    }
    return absl::OkStatus();
  }

  absl::Status IndexUpdates() {
    for (const ir::Update& update : graph_.updates) {
      if (update.target < 0 || update.target >= graph_.size() || update.value < 0 ||
          update.value >= graph_.size()) {
        return absl::InternalError(absl::StrCat("memory plan: update ", update.target, " <- ",
                                                update.value, " refers to a missing node"));
      }
      if (!ir::OpOf(graph_.node(update.target)).Has(ir::kPersistent)) {
        return Error(update.target, "an update target must be a parameter or state");
      }
      if (producer_[update.value] == kNoKernel) {
        return Error(update.value,
                     absl::StrCat("the new value of '", graph_.node(update.target).name,
                                  "' is not written by any kernel"));
      }
      if (update_target_[update.value] != kNoNode) {
        return Error(update.value, "one value cannot be written in place into two updates");
      }
      update_target_[update.value] = update.target;
    }
    return absl::OkStatus();
  }

  int AddBuffer(BufferKind kind, std::string name, NodeId defined_by) {
    plan_.buffers.push_back(Buffer{.name = std::move(name),
                                   .kind = kind,
                                   .type = graph_.node(defined_by).type,
                                   .defined_by = defined_by});
    return static_cast<int>(plan_.buffers.size()) - 1;
  }

  // The runtime-owned buffer of an input, parameter or state leaf, made on first use.
  int BoundLeafBuffer(NodeId leaf) {
    if (plan_.node_buffer[leaf] >= 0) return plan_.node_buffer[leaf];
    const ir::OpDef& def = ir::OpOf(graph_.node(leaf));
    BufferKind kind = def.Has(ir::kPersistent) ? BufferKind::kPersistent : BufferKind::kInput;
    plan_.node_buffer[leaf] = AddBuffer(kind, graph_.node(leaf).name, leaf);
    return plan_.node_buffer[leaf];
  }

  std::string FirstOutputName(NodeId id) const {
    for (const auto& [name, output] : graph_.outputs) {
      if (output == id) return name;
    }
    return "";
  }

  void AssignKernelOutputs() {
    for (const Kernel& kernel : kernels_) {
      for (NodeId id : kernel.outputs) {
        if (update_target_[id] != kNoNode) {
          plan_.node_buffer[id] = BoundLeafBuffer(update_target_[id]);
          continue;
        }
        std::string output_name = FirstOutputName(id);
        plan_.node_buffer[id] = output_name.empty()
                                    ? AddBuffer(BufferKind::kTemp, absl::StrCat("t", id), id)
                                    : AddBuffer(BufferKind::kOutput, output_name, id);
      }
    }
  }

  NodeId AliasRoot(NodeId id) const {
    while (ir::OpOf(graph_.node(id)).Has(ir::kAlias)) id = graph_.node(id).operands[0];
    return id;
  }

  // The buffer holding `id` (through its alias chain), creating bound leaves' buffers, or -1.
  int MaterializedBuffer(NodeId id) {
    NodeId root = AliasRoot(id);
    if (ir::OpOf(graph_.node(root)).IsBoundLeaf()) return BoundLeafBuffer(root);
    return plan_.node_buffer[root];
  }

  absl::Status AssignKernelInputs() {
    for (int k = 0; k < static_cast<int>(kernels_.size()); ++k) {
      const Kernel& kernel = kernels_[k];
      for (NodeId id : kernel.inputs) {
        if (auto s = CheckNode(kernel, id); !s.ok()) return s;
        NodeId root = AliasRoot(id);
        int buffer = MaterializedBuffer(id);
        if (buffer < 0) {
          return Error(id, absl::StrCat("kernel '", kernel.name,
                                        "' reads a value that no kernel writes to memory"));
        }
        if (producer_[root] != kNoKernel && producer_[root] >= k) {
          return Error(id, absl::StrCat("kernel '", kernel.name, "' reads a value before kernel '",
                                        kernels_[producer_[root]].name, "' writes it"));
        }
        plan_.node_buffer[id] = buffer;
        last_read_[root] = std::max(last_read_[root], k);
      }
    }
    return absl::OkStatus();
  }

  // Outputs stay valid after the run, so their buffers (alias roots included) are never reused.
  absl::Status AssignGraphOutputs() {
    for (const auto& [name, id] : graph_.outputs) {
      int buffer = MaterializedBuffer(id);
      if (buffer < 0) {
        return Error(id, absl::StrCat("output '", name, "' is never written to memory"));
      }
      plan_.node_buffer[id] = buffer;
      Buffer& b = plan_.buffers[buffer];
      if (b.kind == BufferKind::kTemp) {
        b.kind = BufferKind::kOutput;
        b.name = name;
      }
    }
    return absl::OkStatus();
  }

  // An update overwrites its target while the step runs, so nothing may read the old value later.
  absl::Status CheckInPlaceUpdates() const {
    for (const ir::Update& update : graph_.updates) {
      int writer = producer_[update.value];
      int last_reader = last_read_[update.target];
      const std::string& target = graph_.node(update.target).name;
      if (last_reader > writer) {
        return Error(update.target,
                     absl::StrCat("kernel '", kernels_[last_reader].name, "' reads '", target,
                                  "' after kernel '", kernels_[writer].name, "' overwrote it"));
      }
      // Loop kernels and GEMM epilogues read and write each element at the same coordinates;
      // a reduction reads many elements per output, so it cannot update in place.
      if (last_reader == writer && kernels_[writer].kind == ir::KernelKind::kReduction) {
        return Error(update.target,
                     absl::StrCat("kernel '", kernels_[writer].name, "' would read '", target,
                                  "' while writing it in place"));
      }
      for (const auto& [name, id] : graph_.outputs) {
        if (AliasRoot(id) != update.target) continue;
        return Error(id, absl::StrCat("output '", name, "' would see '", target,
                                      "' after its update, not the value of this step"));
      }
    }
    return absl::OkStatus();
  }

  Lifetime LifetimeOf(const Buffer& buffer) const {
    int first = producer_[buffer.defined_by];
    if (buffer.kind == BufferKind::kOutput) return Lifetime{first, kEndOfProgram};
    return Lifetime{first, std::max(first, last_read_[buffer.defined_by])};
  }

  // Lowest aligned offset where `size` bytes overlap no placed buffer whose lifetime overlaps.
  int64_t FirstFit(const Lifetime& lifetime, int64_t size, const std::vector<int>& placed,
                   const std::vector<Lifetime>& lifetimes) const {
    std::vector<std::pair<int64_t, int64_t>> taken;  // [begin, end) in the arena.
    for (int other : placed) {
      int64_t other_size = ArenaBytes(plan_.buffers[other].type);
      if (other_size == 0 || !lifetimes[other].Overlaps(lifetime)) continue;
      taken.emplace_back(plan_.buffers[other].offset, plan_.buffers[other].offset + other_size);
    }
    std::sort(taken.begin(), taken.end());
    int64_t offset = 0;
    for (const auto& [begin, end] : taken) {
      if (offset + size <= begin) break;
      offset = std::max(offset, end);
    }
    return offset;
  }

  void PlaceArenaBuffers() {
    std::vector<int> arena;
    std::vector<Lifetime> lifetimes(plan_.buffers.size());
    for (int i = 0; i < static_cast<int>(plan_.buffers.size()); ++i) {
      const Buffer& b = plan_.buffers[i];
      if (b.kind != BufferKind::kTemp && b.kind != BufferKind::kOutput) continue;
      arena.push_back(i);
      lifetimes[i] = LifetimeOf(b);
    }
    // Big buffers first, as interval-graph coloring heuristics do: small ones fill the gaps.
    std::stable_sort(arena.begin(), arena.end(), [&](int a, int b) {
      int64_t size_a = ArenaBytes(plan_.buffers[a].type),
              size_b = ArenaBytes(plan_.buffers[b].type);
      if (size_a != size_b) return size_a > size_b;
      return lifetimes[a].first < lifetimes[b].first;
    });
    std::vector<int> placed;
    for (int i : arena) {
      Buffer& b = plan_.buffers[i];
      int64_t size = ArenaBytes(b.type);
      b.offset = FirstFit(lifetimes[i], size, placed, lifetimes);
      placed.push_back(i);
      plan_.arena_bytes = std::max(plan_.arena_bytes, b.offset + size);
      plan_.unshared_bytes += size;
    }
  }

  const Graph& graph_;
  const std::vector<Kernel>& kernels_;
  BufferAssignment plan_;
  std::vector<int> producer_;          // Node -> the kernel writing it, or kNoKernel.
  std::vector<int> last_read_;         // Node -> the last kernel reading it (alias roots only).
  std::vector<NodeId> update_target_;  // Update value -> the leaf it is written into.
};

const char* KindName(BufferKind kind) {
  switch (kind) {
    case BufferKind::kInput:
      return "input";
    case BufferKind::kPersistent:
      return "persistent";
    case BufferKind::kOutput:
      return "output";
    case BufferKind::kTemp:
      return "temp";
  }
  return "?";
}

}  // namespace

int64_t ArenaBytes(const ir::TensorType& type) {
  return (type.bytes() + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
}

absl::StatusOr<BufferAssignment> PlanMemory(const Graph& graph,
                                            const std::vector<Kernel>& kernels) {
  return MemoryPlanner(graph, kernels).Plan();
}

std::string DescribeMemoryPlan(const BufferAssignment& plan) {
  std::string text;
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const Buffer& b = plan.buffers[i];
    absl::StrAppendFormat(&text, "buffer %d %s \"%s\" %s %d bytes", i, KindName(b.kind), b.name,
                          b.type.ToString(), b.type.bytes());
    if (b.kind == BufferKind::kTemp || b.kind == BufferKind::kOutput) {
      absl::StrAppendFormat(&text, " at %d", b.offset);
    }
    absl::StrAppendFormat(&text, " (node %d)\n", b.defined_by);
  }
  absl::StrAppendFormat(&text, "planned peak %d bytes vs %d without reuse\n", plan.arena_bytes,
                        plan.unshared_bytes);
  return text;
}

}  // namespace kiln::passes
