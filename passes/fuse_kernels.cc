#include "passes/fuse_kernels.h"

#include <algorithm>
#include <cassert>
#include <map>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "ir/op_registry.h"
#include "ir/windowed_operand.h"
#include "passes/fusion_decision.h"

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
// About an instruction per element and computable at any coordinates: recomputing it costs less
// than storing it and reading it back.
bool IsCheapElementwise(const Node& n) {
  const ir::OpDef& def = ir::OpOf(n);
  return def.Has(ir::kCheap) && (def.Has(ir::kElementwise) || def.Has(ir::kIndexMap)) &&
         !def.Has(ir::kLeaf);
}

// An index map that reorders the dims it reads (a transpose; not a broadcast, which only adds
// or repeats dims): its consumer reads the operand out of memory order.
bool PermutesDims(const Graph& graph, const Node& n) {
  const ir::OpDef& def = ir::OpOf(n);
  if (!def.Has(ir::kIndexMap)) return false;
  const ir::TensorType& operand = graph.node(n.operands[0]).type;
  const std::vector<int> map = def.index_map(n, operand);
  int previous = -1;
  for (size_t d = 0; d < map.size(); ++d) {
    if (map[d] < 0 || operand.shape[d] == 1) continue;
    if (map[d] < previous) return true;
    previous = map[d];
  }
  return false;
}

const char* KindName(KernelKind kind) {
  switch (kind) {
    case KernelKind::kLoop: return "loop";
    case KernelKind::kReduction: return "reduction";
    case KernelKind::kMatmul: return "matmul";
  }
  return "?";
}

// "%5 add 'fc1'": how the fusion dump and its reasons name a node.
std::string NodeLabel(const Graph& graph, NodeId id) {
  const Node& n = graph.node(id);
  std::string label = absl::StrCat("%", id, " ", n.op.name());
  if (!n.name.empty()) absl::StrAppend(&label, " '", n.name, "'");
  return label;
}

FusionDecision Forbid(std::string reason) { return FusionDecision::Forbid(std::move(reason)); }

class Fuser {
 public:
  Fuser(const Graph& graph, FusionOptions options)
      : graph_(graph), options_(options), users_(graph.Users()), kernel_of_(graph.size(), -1),
        must_store_(graph.size(), false), is_update_value_(graph.size(), false),
        needs_buffer_(graph.size(), false), recomputed_(graph.size(), false),
        not_fused_(graph.size()) {
    for (const auto& [name, id] : graph.outputs) must_store_[id] = true;
    for (const ir::Update& u : graph.updates) must_store_[u.value] = is_update_value_[u.value] = true;
    // Operands a kernel reads from memory rather than recomputing. A window op reads its
    // operands at computed coordinates, possibly many times per element: from memory too, unless
    // the operand is a cheap elementwise op, which it recomputes at those coordinates. That
    // spares a pass over memory for the ReLU and NHWC -> NCHW transpose between a convolution's
    // GEMM and the next im2col (fashion_cnn's step 15.0 -> 12.9 ms, measured).
    for (const Node& n : graph.nodes()) {
      if (!ReadsOperandsFromMemory(n)) continue;
      for (NodeId operand : n.operands) {
        if (IsWindow(n) && IsCheapElementwise(graph.node(operand))) continue;
        needs_buffer_[operand] = true;
      }
    }
    if (options_.windowed_gemm_operands && !options_.one_op_per_kernel) ChooseWindowedOperands();
  }

  absl::StatusOr<std::vector<Kernel>> Run() {
    for (NodeId id = graph_.size() - 1; id >= 0; --id) {
      const Node& n = graph_.node(id);
      if (IsLeaf(n) || IsAlias(n) || recomputed_[id]) continue;
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
  static bool ReadsOperandsFromMemory(const Node& n) {
    const ir::OpDef& def = ir::OpOf(n);
    return def.Has(ir::kAlias) || def.Has(ir::kContraction) || def.Has(ir::kWindow) ||
           def.Has(ir::kCollective);
  }

  std::string Label(NodeId id) const { return NodeLabel(graph_, id); }

  // Operand `i` of `matmul` as a matrix the GEMM can read from the window op's input, or nullopt.
  std::optional<ir::WindowedOperand> WindowedOperandOf(const Node& matmul, int i) const {
    if (matmul.attrs.GetInt(i == 0 ? "transpose_a" : "transpose_b", 0) != 0) return std::nullopt;
    std::optional<ir::WindowedOperand> w = ir::ResolveWindowedOperand(graph_, matmul.operands[i]);
    // Offsets are 32-bit in the generated code.
    constexpr int64_t kMaxOffset = int64_t{1} << 31;
    if (!w || w->contiguous_run % ir::kWindowedColumnRun != 0 ||
        graph_.node(w->source).type.num_elements() >= kMaxOffset) {
      return std::nullopt;
    }
    return w;
  }

  // Window ops every one of whose users is a GEMM that can read it windowed are not stored: each
  // GEMM computes them (their views and index maps too) as addresses into the source, which is.
  void ChooseWindowedOperands() {
    std::map<NodeId, std::vector<ir::WindowedOperand>> by_window;
    std::set<std::pair<NodeId, int>> windowed;  // (matmul, operand index) read windowed.
    for (const Node& n : graph_.nodes()) {
      if (!ir::OpOf(n).Has(ir::kContraction)) continue;
      for (int i = 0; i < 2; ++i) {
        if (auto w = WindowedOperandOf(n, i)) {
          windowed.insert({n.id, i});
          by_window[w->window].push_back(std::move(*w));
        }
      }
    }
    for (const auto& [window, operands] : by_window) {
      std::set<NodeId> addressed;
      for (const ir::WindowedOperand& w : operands) {
        addressed.insert(w.addressed.begin(), w.addressed.end());
      }
      // Outside the chain, only GEMM operands read windowed may use it: any other reader (a
      // GEMM operand it cannot read so, a loop kernel) needs it stored.
      bool all_windowed = true;
      for (NodeId id : addressed) {
        all_windowed &= !must_store_[id];
        for (NodeId user : users_[id]) {
          if (addressed.count(user)) continue;
          const Node& reader = graph_.node(user);
          for (int i = 0; i < static_cast<int>(reader.operands.size()); ++i) {
            if (reader.operands[i] == id) all_windowed &= windowed.count({user, i}) > 0;
          }
        }
      }
      if (!all_windowed) continue;
      for (NodeId id : addressed) {
        recomputed_[id] = true;
        needs_buffer_[id] = false;
      }
      const NodeId source = operands.front().source;
      needs_buffer_[source] = true;
      windowed_reader_[source] = window;
    }
  }

  // Puts `n` into its users' kernel when that is legal and cheap, else starts a kernel and
  // records why `n` could not join.
  void Place(const Node& n) {
    int consumer = -1;
    FusionDecision join = CanJoinUsers(n, consumer);
    if (join) {
      Join(consumer, n);
      return;
    }
    not_fused_[n.id] = join.Explain();
    const ir::OpDef& def = ir::OpOf(n);
    Kernel k;
    k.kind = def.Has(ir::kReduction)     ? KernelKind::kReduction
             : def.Has(ir::kContraction) ? KernelKind::kMatmul
                                         : KernelKind::kLoop;
    k.root = n.id;
    k.outputs = {n.id};
    kernels_.push_back(std::move(k));
    Add(static_cast<int>(kernels_.size()) - 1, n.id);
  }

  // A matmul joins as the root of a GEMM whose epilogue the kernel becomes; anything else as one
  // more node of the kernel, stored when its value is needed.
  void Join(int kernel, const Node& n) {
    if (ir::OpOf(n).Has(ir::kContraction)) {
      kernels_[kernel].kind = KernelKind::kMatmul;
      kernels_[kernel].root = n.id;
      Add(kernel, n.id);
      return;
    }
    Add(kernel, n.id);
    if (must_store_[n.id]) kernels_[kernel].outputs.push_back(n.id);
  }

  // Whether `n` may join the kernel holding all its users, which `kernel` is set to.
  FusionDecision CanJoinUsers(const Node& n, int& kernel) const {
    if (options_.one_op_per_kernel) return Forbid("one op per kernel was requested");
    const ir::OpDef& def = ir::OpOf(n);
    if (def.Has(ir::kReduction)) {
      return Forbid(absl::StrCat("producer is a reduction (", n.op.name(), "), which roots a kernel"));
    }
    if (def.Has(ir::kCollective)) {
      return Forbid(absl::StrCat("producer is a collective (", n.op.name(), "), which runs alone"));
    }
    if (!def.Has(ir::kContraction) && !IsElementwiseLike(n)) {
      return Forbid(absl::StrCat("producer (", n.op.name(), ") is neither elementwise nor a matmul"));
    }
    FusionDecision sole = SoleConsumerKernel(n, kernel);
    if (!sole) return sole;
    if (def.Has(ir::kContraction)) return CanBecomeEpilogue(kernel, n);
    return CanAbsorb(kernel, n);
  }

  // Why `id`'s value is stored: "graph output 'loss'" or "the new value of 'fc1.weight'".
  std::string StoredAs(NodeId id) const {
    for (const ir::Update& u : graph_.updates) {
      if (u.value != id) continue;
      const std::string& target = graph_.node(u.target).name;
      return absl::StrCat("the new value of ",
                          target.empty() ? Label(u.target) : "'" + target + "'");
    }
    for (const auto& [name, output] : graph_.outputs) {
      if (output == id) return absl::StrCat("graph output '", name, "'");
    }
    return "stored";
  }

  // Names the user that reads `n` from memory (a matmul, a window op or a reshape view).
  std::string BufferReason(const Node& n) const {
    if (auto it = windowed_reader_.find(n.id); it != windowed_reader_.end()) {
      return absl::StrCat(Label(it->second),
                          " is read by GEMMs at addresses in the producer's buffer");
    }
    for (NodeId user : users_[n.id]) {
      const ir::OpDef& def = ir::OpOf(graph_.node(user));
      if (def.Has(ir::kAlias)) return absl::StrCat(Label(user), " views the producer's buffer");
      if (def.Has(ir::kContraction)) {
        return absl::StrCat(Label(user), " reads the producer from memory");
      }
      if (def.Has(ir::kWindow)) {
        return absl::StrCat(Label(user), " reads the producer at computed coordinates");
      }
      if (def.Has(ir::kCollective)) {
        return absl::StrCat(Label(user), " is a collective and reads the producer from memory");
      }
    }
    return "a consumer reads the producer from memory";
  }

  // A cheap op whose users sit in several kernels is recomputed in each of them instead of
  // being stored and reloaded: an add or a compare costs less than a round trip to memory.
  // Allowed means "recompute"; a refusal says why `n` cannot be (a clause that can follow "and").
  FusionDecision ShouldRecompute(const Node& n) const {
    if (options_.one_op_per_kernel) return Forbid("one op per kernel was requested");
    if (!ir::OpOf(n).Has(ir::kCheap) || !IsElementwiseLike(n)) {
      return Forbid(absl::StrCat(n.op.name(), " is too costly to recompute"));
    }
    if (must_store_[n.id]) return Forbid(absl::StrCat("it is ", StoredAs(n.id)));
    if (needs_buffer_[n.id]) return Forbid(BufferReason(n));
    if (users_[n.id].empty()) return Forbid("it has no users");
    std::set<int> kernels;
    bool feeds_recomputed = false;
    for (NodeId user : users_[n.id]) {
      if (kernel_of_[user] < 0 && !recomputed_[user]) {
        return Forbid(absl::StrCat("user ", Label(user), " is in no kernel"));
      }
      feeds_recomputed |= recomputed_[user];
      kernels.insert(kernel_of_[user]);
    }
    // A cheap operand of a recomputed node is recomputed along with it.
    if (feeds_recomputed || kernels.size() > 1) return FusionDecision::Allow();
    return Forbid("its users share one kernel");
  }

  // The one kernel holding every user of `n` (set in `kernel`), or why there is none: no users,
  // several kernels, a user recomputed in several, or a user that must read `n` from memory.
  FusionDecision SoleConsumerKernel(const Node& n, int& kernel) const {
    kernel = -1;
    if (needs_buffer_[n.id]) return Forbid(BufferReason(n));
    if (users_[n.id].empty()) return Forbid("producer has no users");
    std::set<int> kernels;
    for (NodeId user : users_[n.id]) {
      if (kernel_of_[user] >= 0) {
        kernels.insert(kernel_of_[user]);
        continue;
      }
      // Users are placed before their operands; one in no kernel is recomputed where used.
      return Forbid(absl::StrCat("user ", Label(user),
                                 " is recomputed in each kernel using it, and ",
                                 ShouldRecompute(n).Explain()));
    }
    if (kernels.size() > 1) {
      return Forbid(absl::StrCat("producer has users in ", kernels.size(), " kernels, and ",
                                 ShouldRecompute(n).Explain()));
    }
    kernel = *kernels.begin();
    return FusionDecision::Allow();
  }

  const ir::TensorType& IterationType(const Kernel& k) const {
    const Node& root = graph_.node(k.root);
    if (k.kind == KernelKind::kReduction) return graph_.node(root.operands[0]).type;
    return root.type;
  }

  // "the reduction kernel of %16 reduce_max": kernels get their names only once scheduled.
  std::string KernelLabel(const Kernel& k) const {
    return absl::StrCat("the ", KindName(k.kind), " kernel of ", Label(k.root));
  }

  FusionDecision CanAbsorb(int kernel, const Node& n) const {
    const Kernel& k = kernels_[kernel];
    // Window ops need scalar coordinates of their own element: loop kernels only.
    if (IsWindow(n) && k.kind != KernelKind::kLoop) {
      return Forbid(absl::StrCat("window op ", n.op.name(), " needs a loop kernel, not ", KernelLabel(k)));
    }
    // Absorbing a producer that the kernel reads with broadcasting recomputes it per use: only
    // worth it for cheap ops.
    const ir::TensorType& iteration = IterationType(k);
    if (n.type.num_elements() != iteration.num_elements() && !ir::OpOf(n).Has(ir::kCheap)) {
      return Forbid(absl::StrCat(KernelLabel(k), " reads ", n.op.name(), " ", n.type.ToString(),
                                 " broadcast over ", iteration.ToString(),
                                 ": it would be recomputed per use, and ", n.op.name(),
                                 " is too costly to recompute"));
    }
    // An optimizer update streams its parameter, state and gradient in one order. A gradient
    // read through a transpose (a convolution's weight gradient comes out [OC, KH, KW, C]) would
    // make it walk at the pace of that strided read; a transpose on its own walks in blocks
    // (codegen/loop_order.h) and the update streams.
    if (PermutesDims(graph_, n)) {
      for (NodeId out : k.outputs) {
        if (is_update_value_[out]) {
          return Forbid(absl::StrCat(KernelLabel(k), " writes ", StoredAs(out), ", and ",
                                     n.op.name(), " would read its gradient out of order"));
        }
      }
    }
    if (!must_store_[n.id]) return FusionDecision::Allow();
    // A stored value must be computed at the kernel's own coordinates: a loop kernel output.
    if (k.kind != KernelKind::kLoop) {
      return Forbid(absl::StrCat("producer is ", StoredAs(n.id), ", and ", KernelLabel(k),
                                 " stores only its result"));
    }
    if (n.type.shape != iteration.shape) {
      return Forbid(absl::StrCat("producer is ", StoredAs(n.id), " of type ", n.type.ToString(),
                                 ", but ", KernelLabel(k), " iterates over ",
                                 iteration.ToString()));
    }
    return FusionDecision::Allow();
  }

  // A matmul can feed a loop kernel as its epilogue when every node depending on it inside the
  // kernel is a same-shaped elementwise op: the epilogue sees one accumulator tile at a time.
  FusionDecision CanBecomeEpilogue(int kernel, const Node& matmul) const {
    const Kernel& k = kernels_[kernel];
    if (k.kind != KernelKind::kLoop) {
      return Forbid(absl::StrCat("a GEMM epilogue must be a loop kernel, not ", KernelLabel(k)));
    }
    if (must_store_[matmul.id]) {
      return Forbid(absl::StrCat("the matmul is ", StoredAs(matmul.id),
                                 ", so it cannot live only in the GEMM's accumulators"));
    }
    // Optimizer updates stay in their own loop kernels: measured, an Adam step in the epilogue
    // of the weight-gradient GEMM slows the GEMM down more than the saved pass over the gradient
    // gains (the epilogue's extra streams evict the packed panels).
    for (NodeId out : k.outputs) {
      if (is_update_value_[out]) {
        return Forbid(absl::StrCat("the consumers' kernel writes ", Label(out), ", ", StoredAs(out),
                                   "; optimizer updates stay out of GEMM epilogues"));
      }
    }
    const ir::TensorType& iteration = IterationType(k);
    if (iteration.shape != matmul.type.shape) {
      return Forbid(absl::StrCat(KernelLabel(k), " iterates over ", iteration.ToString(),
                                 ", the matmul produces ", matmul.type.ToString()));
    }
    // The CPU epilogue evaluates a vector of columns at once; a window op's computed coordinates
    // need scalar ones.
    for (NodeId id : k.nodes) {
      if (IsWindow(graph_.node(id))) {
        return Forbid(absl::StrCat(KernelLabel(k), " holds window op ", Label(id),
                                   ", which a vectorized GEMM epilogue cannot compute"));
      }
    }
    return EpilogueDependentsAreElementwise(k, matmul);
  }

  // Every node of `k` that depends on `matmul` must be elementwise and of the matmul's shape.
  FusionDecision EpilogueDependentsAreElementwise(const Kernel& k, const Node& matmul) const {
    std::set<NodeId> depends = {matmul.id};
    std::vector<NodeId> nodes = k.nodes;
    std::sort(nodes.begin(), nodes.end());
    for (NodeId id : nodes) {
      const Node& node = graph_.node(id);
      bool uses = std::any_of(node.operands.begin(), node.operands.end(),
                              [&](NodeId o) { return depends.count(o) > 0; });
      if (!uses) continue;
      if (!ir::OpOf(node).Has(ir::kElementwise)) {
        return Forbid(absl::StrCat(Label(id), " depends on the matmul in ", KernelLabel(k),
                                   " and is not elementwise"));
      }
      if (node.type.shape != matmul.type.shape) {
        return Forbid(absl::StrCat(Label(id), " depends on the matmul in ", KernelLabel(k),
                                   " but has type ", node.type.ToString(), ", not ",
                                   matmul.type.ToString()));
      }
      depends.insert(id);
    }
    return FusionDecision::Allow();
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
    RecordUnfusedInputs(k, inside);
  }

  // Every edge into `k` from a node another kernel computes, with the reason that node gave
  // when it started a kernel of its own instead of joining its users'.
  void RecordUnfusedInputs(Kernel& k, const std::set<NodeId>& inside) const {
    std::set<std::pair<NodeId, NodeId>> edges;  // (producer, consumer)
    for (NodeId id : k.nodes) {
      for (NodeId operand : graph_.node(id).operands) {
        if (inside.count(operand)) continue;
        NodeId producer = ViewSource(operand);
        if (!IsLeaf(graph_.node(producer))) edges.insert({producer, id});
      }
    }
    for (const auto& [producer, consumer] : edges) {
      // Only nodes that rooted a kernel of their own are read across a kernel boundary.
      assert(!not_fused_[producer].empty());
      k.unfused_inputs.push_back({producer, consumer, not_fused_[producer]});
    }
  }

  // The node whose buffer `id` is: itself, or the source of the reshape views it is made of.
  NodeId ViewSource(NodeId id) const {
    while (IsAlias(graph_.node(id))) id = graph_.node(id).operands[0];
    return id;
  }

  // The kernel whose output `id` is (following reshape views back to their source), or -1.
  int ProducerKernel(NodeId id) const { return kernel_of_[ViewSource(id)]; }

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
  std::vector<bool> recomputed_;   // Cheap nodes recomputed inside each consumer kernel, and
                                   // windowed GEMM operands computed as addresses in each GEMM.
  std::map<NodeId, NodeId> windowed_reader_;  // Source -> the window op GEMMs read through it.
  std::vector<std::string> not_fused_;  // Why a node roots a kernel rather than join its users'.
  std::vector<Kernel> kernels_;
};

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
  absl::StrAppend(&out, DescribeUnfusedEdges(graph, kernels));
  return out;
}

std::string DescribeUnfusedEdges(const ir::Graph& graph, const std::vector<ir::Kernel>& kernels) {
  // One line per producer and reason, listing its consumers once each: a consumer recomputed in
  // several kernels, or a learning rate read by every update kernel, would otherwise repeat.
  std::map<std::pair<NodeId, std::string>, std::set<NodeId>> consumers;
  for (const Kernel& k : kernels) {
    for (const ir::UnfusedEdge& e : k.unfused_inputs) {
      consumers[{e.producer, e.reason}].insert(e.consumer);
    }
  }
  if (consumers.empty()) return "";
  std::string out = "not fused:\n";
  for (const auto& [producer_and_reason, users] : consumers) {
    const auto& [producer, reason] = producer_and_reason;
    std::vector<std::string> labels;
    for (NodeId user : users) labels.push_back(NodeLabel(graph, user));
    absl::StrAppend(&out, "  ", NodeLabel(graph, producer), " -> ", absl::StrJoin(labels, ", "),
                    ": ", reason, "\n");
  }
  return out;
}

}  // namespace kiln::passes
