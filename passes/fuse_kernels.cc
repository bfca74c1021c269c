#include "passes/fuse_kernels.h"

#include <algorithm>
#include <queue>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "ir/op_registry.h"

namespace kiln::passes {
namespace {

using ir::Graph;
using ir::Kernel;
using ir::KernelKind;
using ir::Node;
using ir::NodeId;

bool IsLeaf(const Node& n) { return ir::OpOf(n).Has(ir::kLeaf) && !IsInlinedGenerator(n); }
bool IsAlias(const Node& n) { return ir::OpOf(n).Has(ir::kAlias); }
bool IsElementwiseLike(const Node& n) {
  const ir::OpDef& def = ir::OpOf(n);
  return def.Has(ir::kElementwise) || def.Has(ir::kIndexMap) || def.Has(ir::kWindow);
}
bool IsWindow(const Node& n) { return ir::OpOf(n).Has(ir::kWindow); }

class Fuser {
 public:
  Fuser(const Graph& graph, FusionOptions options)
      : graph_(graph), options_(options), users_(graph.Users()), kernel_of_(graph.size(), -1),
        must_store_(graph.size(), false), is_update_value_(graph.size(), false),
        needs_buffer_(graph.size(), false), recomputed_(graph.size(), false) {
    for (const auto& [name, id] : graph.outputs) must_store_[id] = true;
    for (const ir::Update& u : graph.updates) must_store_[u.value] = is_update_value_[u.value] = true;
    // Operands a kernel reads from memory rather than recomputing. A window op reads its
    // operands at computed coordinates, possibly many times per element: from memory too.
    for (const Node& n : graph.nodes()) {
      const ir::OpDef& def = ir::OpOf(n);
      if (!def.Has(ir::kAlias) && !def.Has(ir::kContraction) && !def.Has(ir::kWindow)) continue;
      for (NodeId operand : n.operands) needs_buffer_[operand] = true;
    }
  }

  absl::StatusOr<std::vector<Kernel>> Run() {
    for (NodeId id = graph_.size() - 1; id >= 0; --id) {
      const Node& n = graph_.node(id);
      if (IsLeaf(n) || IsAlias(n)) continue;
      if (IsInlinedGenerator(n) && !must_store_[id] && !needs_buffer_[id]) continue;
      if (ShouldRecompute(n)) {
        recomputed_[id] = true;
        continue;
      }
      Place(n);
    }
    for (Kernel& k : kernels_) Finish(k);
    return Schedule();
  }

 private:
  // Puts `n` into a consumer's kernel when that is legal and cheap, else starts a kernel.
  void Place(const Node& n) {
    const ir::OpDef& def = ir::OpOf(n);
    int consumer = options_.one_op_per_kernel ? -1 : SoleConsumerKernel(n);
    if (def.Has(ir::kContraction) && consumer >= 0 && CanBecomeEpilogue(consumer, n)) {
      Kernel& k = kernels_[consumer];
      k.kind = KernelKind::kMatmul;
      k.root = n.id;
      Add(consumer, n.id);
      return;
    }
    if (IsElementwiseLike(n) && consumer >= 0 && CanAbsorb(consumer, n)) {
      Add(consumer, n.id);
      if (must_store_[n.id]) kernels_[consumer].outputs.push_back(n.id);
      return;
    }
    Kernel k;
    k.kind = def.Has(ir::kReduction)     ? KernelKind::kReduction
             : def.Has(ir::kContraction) ? KernelKind::kMatmul
                                         : KernelKind::kLoop;
    k.root = n.id;
    k.outputs = {n.id};
    kernels_.push_back(std::move(k));
    Add(static_cast<int>(kernels_.size()) - 1, n.id);
  }

  // A cheap op whose users sit in several kernels is recomputed in each of them instead of
  // being stored and reloaded: an add or a compare costs less than a round trip to memory.
  bool ShouldRecompute(const Node& n) const {
    if (options_.one_op_per_kernel) return false;
    if (!ir::OpOf(n).Has(ir::kCheap) || !IsElementwiseLike(n)) return false;
    if (must_store_[n.id] || needs_buffer_[n.id] || users_[n.id].empty()) return false;
    std::set<int> kernels;
    bool feeds_recomputed = false;
    for (NodeId user : users_[n.id]) {
      if (kernel_of_[user] < 0 && !recomputed_[user]) return false;
      feeds_recomputed |= recomputed_[user];
      kernels.insert(kernel_of_[user]);
    }
    // A cheap operand of a recomputed node is recomputed along with it.
    return feeds_recomputed || kernels.size() > 1;
  }

  // The one kernel holding every user of `n`, or -1 (no users, several kernels, or a user that
  // must read `n` from memory).
  int SoleConsumerKernel(const Node& n) const {
    if (needs_buffer_[n.id]) return -1;
    int kernel = -1;
    for (NodeId user : users_[n.id]) {
      int k = kernel_of_[user];
      if (k < 0 || (kernel >= 0 && k != kernel)) return -1;
      kernel = k;
    }
    return kernel;
  }

  const ir::TensorType& IterationType(const Kernel& k) const {
    const Node& root = graph_.node(k.root);
    if (k.kind == KernelKind::kReduction) return graph_.node(root.operands[0]).type;
    return root.type;
  }

  bool CanAbsorb(int kernel, const Node& n) const {
    const Kernel& k = kernels_[kernel];
    // Window ops need scalar coordinates of their own element: loop kernels only.
    if (IsWindow(n) && k.kind != KernelKind::kLoop) return false;
    // Absorbing a producer that the kernel reads with broadcasting recomputes it per use: only
    // worth it for cheap ops.
    if (n.type.num_elements() != IterationType(k).num_elements() &&
        !ir::OpOf(n).Has(ir::kCheap)) {
      return false;
    }
    if (!must_store_[n.id]) return true;
    // A stored value must be computed at the kernel's own coordinates: a loop kernel output.
    return k.kind == KernelKind::kLoop && n.type.shape == IterationType(k).shape;
  }

  // A matmul can feed a loop kernel as its epilogue when every node depending on it inside the
  // kernel is a same-shaped elementwise op: the epilogue sees one accumulator tile at a time.
  bool CanBecomeEpilogue(int kernel, const Node& matmul) const {
    const Kernel& k = kernels_[kernel];
    if (k.kind != KernelKind::kLoop || must_store_[matmul.id]) return false;
    // Optimizer updates stay in their own loop kernels: measured, an Adam step in the epilogue
    // of the weight-gradient GEMM slows the GEMM down more than the saved pass over the gradient
    // gains (the epilogue's extra streams evict the packed panels).
    for (NodeId out : k.outputs) {
      if (is_update_value_[out]) return false;
    }
    if (IterationType(k).shape != matmul.type.shape) return false;
    // The CPU epilogue evaluates a vector of columns at once; a window op's computed coordinates
    // need scalar ones.
    for (NodeId id : k.nodes) {
      if (IsWindow(graph_.node(id))) return false;
    }
    std::set<NodeId> depends = {matmul.id};
    std::vector<NodeId> nodes = k.nodes;
    std::sort(nodes.begin(), nodes.end());
    for (NodeId id : nodes) {
      const Node& node = graph_.node(id);
      bool uses = std::any_of(node.operands.begin(), node.operands.end(),
                              [&](NodeId o) { return depends.count(o) > 0; });
      if (!uses) continue;
      if (!ir::OpOf(node).Has(ir::kElementwise) || node.type.shape != matmul.type.shape) {
        return false;
      }
      depends.insert(id);
    }
    return true;
  }

  void Add(int kernel, NodeId id) {
    kernel_of_[id] = kernel;
    kernels_[kernel].nodes.push_back(id);
  }

  // Pulls in the inlined generators the kernel's nodes use and lists what it reads.
  void Finish(Kernel& k) {
    std::set<NodeId> inside(k.nodes.begin(), k.nodes.end());
    for (size_t i = 0; i < k.nodes.size(); ++i) {
      for (NodeId operand : graph_.node(k.nodes[i]).operands) {
        const Node& o = graph_.node(operand);
        bool inline_here = IsInlinedGenerator(o) || recomputed_[operand];
        if (inline_here && !inside.count(operand) && kernel_of_[operand] < 0) {
          inside.insert(operand);
          k.nodes.push_back(operand);
        }
      }
    }
    k.nodes.assign(inside.begin(), inside.end());
    std::set<NodeId> inputs;
    for (NodeId id : k.nodes) {
      for (NodeId operand : graph_.node(id).operands) {
        if (!inside.count(operand)) inputs.insert(operand);
      }
    }
    k.inputs.assign(inputs.begin(), inputs.end());
    std::sort(k.outputs.begin(), k.outputs.end());
  }

  // The kernel whose output `id` is (following reshape views back to their source), or -1.
  int ProducerKernel(NodeId id) const {
    while (IsAlias(graph_.node(id))) id = graph_.node(id).operands[0];
    return kernel_of_[id];
  }

  absl::StatusOr<std::vector<Kernel>> Schedule() {
    const int n = static_cast<int>(kernels_.size());
    std::vector<std::set<int>> successors(n);
    std::vector<int> indegree(n, 0);
    auto edge = [&](int from, int to) {
      if (from >= 0 && from != to && successors[from].insert(to).second) ++indegree[to];
    };
    for (int k = 0; k < n; ++k) {
      for (NodeId input : kernels_[k].inputs) edge(ProducerKernel(input), k);
    }
    // Writing a persistent tensor in place must wait for every other reader of its old value.
    for (const ir::Update& u : graph_.updates) {
      int writer = kernel_of_[u.value];
      for (int k = 0; k < n; ++k) {
        const auto& in = kernels_[k].inputs;
        if (k != writer && std::find(in.begin(), in.end(), u.target) != in.end()) edge(k, writer);
      }
    }
    // Kahn's algorithm; ties go to the kernel whose root comes first, for stable dumps.
    auto later = [&](int a, int b) { return kernels_[a].root > kernels_[b].root; };
    std::priority_queue<int, std::vector<int>, decltype(later)> ready(later);
    for (int k = 0; k < n; ++k) {
      if (indegree[k] == 0) ready.push(k);
    }
    std::vector<Kernel> ordered;
    while (!ready.empty()) {
      int k = ready.top();
      ready.pop();
      ordered.push_back(kernels_[k]);
      for (int next : successors[k]) {
        if (--indegree[next] == 0) ready.push(next);
      }
    }
    if (static_cast<int>(ordered.size()) != n) {
      return absl::InternalError("kernel fusion produced a dependency cycle");
    }
    for (size_t i = 0; i < ordered.size(); ++i) ordered[i].name = KernelName(i, ordered[i]);
    return ordered;
  }

  std::string KernelName(size_t index, const Kernel& k) const {
    std::vector<std::string> ops;
    for (NodeId id : k.nodes) {
      const Node& node = graph_.node(id);
      if (IsInlinedGenerator(node)) continue;
      if (ops.empty() || ops.back() != node.op) ops.push_back(node.op);
      if (ops.size() == 4) break;
    }
    return absl::StrCat("k", index, "_", absl::StrJoin(ops, "_"));
  }

  const Graph& graph_;
  FusionOptions options_;
  std::vector<std::vector<NodeId>> users_;
  std::vector<int> kernel_of_;
  std::vector<bool> must_store_;   // Graph outputs and update values.
  std::vector<bool> is_update_value_;  // Written over a persistent tensor at the step's end.
  std::vector<bool> needs_buffer_; // Read by a matmul or viewed by a reshape.
  std::vector<bool> recomputed_;   // Cheap nodes recomputed inside each consumer kernel.
  std::vector<Kernel> kernels_;
};

const char* KindName(KernelKind kind) {
  switch (kind) {
    case KernelKind::kLoop: return "loop";
    case KernelKind::kReduction: return "reduction";
    case KernelKind::kMatmul: return "matmul";
  }
  return "?";
}

std::string NodeLabel(const Graph& graph, NodeId id) {
  const Node& n = graph.node(id);
  std::string label = absl::StrCat("%", id, " ", n.op);
  if (!n.name.empty()) absl::StrAppend(&label, " '", n.name, "'");
  return label;
}

}  // namespace

bool IsInlinedGenerator(const ir::Node& node) {
  return ir::OpOf(node).Has(ir::kGenerator);
}

absl::StatusOr<std::vector<ir::Kernel>> FuseKernels(const ir::Graph& graph,
                                                    FusionOptions options) {
  return Fuser(graph, options).Run();
}

std::string DescribeKernels(const ir::Graph& graph, const std::vector<ir::Kernel>& kernels) {
  std::string out;
  for (const Kernel& k : kernels) {
    std::vector<std::string> ops, outputs, inputs;
    for (NodeId id : k.nodes) {
      if (!IsInlinedGenerator(graph.node(id))) ops.push_back(NodeLabel(graph, id));
    }
    for (NodeId id : k.outputs) {
      outputs.push_back(absl::StrCat(NodeLabel(graph, id), " ", graph.node(id).type.ToString()));
    }
    for (NodeId id : k.inputs) inputs.push_back(NodeLabel(graph, id));
    absl::StrAppendFormat(&out, "kernel %s (%s, %d ops)\n  ops:     %s\n  inputs:  %s\n  outputs: %s\n",
                          k.name, KindName(k.kind), ops.size(), absl::StrJoin(ops, ", "),
                          absl::StrJoin(inputs, ", "), absl::StrJoin(outputs, ", "));
  }
  return out;
}

}  // namespace kiln::passes
