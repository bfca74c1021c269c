#include "codegen/kernel_origin.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ir/op_registry.h"
#include "passes/fuse_kernels.h"

namespace kiln::codegen {
namespace {

// The learning-rate input: what an optimizer update reads that the backward pass does not.
constexpr char kLearningRateInput[] = "kiln.lr";

// Nodes the step's outputs (the loss, an evaluation's counts) depend on: the forward pass.
std::vector<bool> AncestorsOfOutputs(const ir::Graph& graph) {
  std::vector<bool> needed(graph.size(), false);
  for (const auto& [name, id] : graph.outputs) needed[id] = true;
  for (ir::NodeId id = graph.size() - 1; id >= 0; --id) {
    if (!needed[id]) continue;
    for (ir::NodeId operand : graph.node(id).operands) needed[operand] = true;
  }
  return needed;
}

// Optimizer state (persistent, no gradient) and the learning rate: what only updates read.
bool SeedsUpdate(const ir::Node& node) {
  const ir::OpDef& def = ir::OpOf(node);
  if (def.Has(ir::kPersistent) && def.Has(ir::kNoGradient)) return true;
  return def.Has(ir::kLeaf) && node.name == kLearningRateInput;
}

const char* PassName(KernelOrigins::Pass pass) {
  switch (pass) {
    case KernelOrigins::Pass::kForward: return "the forward pass";
    case KernelOrigins::Pass::kBackward: return "the backward pass";
    case KernelOrigins::Pass::kUpdate: return "the update step";
  }
  return "?";
}

}  // namespace

std::string DescribeNode(const ir::Node& node) {
  std::string where = node.loc.known() ? node.loc.ToString() : "";
  if (!node.name.empty()) where = where.empty() ? node.name : absl::StrCat(node.name, ", ", where);
  if (where.empty()) return absl::StrCat("'", node.op.name(), "'");
  return absl::StrCat("'", node.op.name(), "' (", where, ")");
}

// Forward: what the outputs depend on. Of the rest, what depends on optimizer state or the
// learning rate (or is written over a persistent tensor) is the update; the others are gradients.
KernelOrigins::KernelOrigins(const ir::Graph& graph)
    : graph_(graph), pass_(graph.size(), Pass::kBackward) {
  const std::vector<bool> forward = AncestorsOfOutputs(graph);
  std::vector<bool> update(graph.size(), false);
  for (const ir::Update& u : graph.updates) update[u.value] = true;
  for (const ir::Node& node : graph.nodes()) {
    update[node.id] = update[node.id] || SeedsUpdate(node);
    for (ir::NodeId operand : node.operands) {
      update[node.id] = update[node.id] || (update[operand] && !forward[operand]);
    }
    if (forward[node.id]) {
      pass_[node.id] = Pass::kForward;
    } else if (update[node.id]) {
      pass_[node.id] = Pass::kUpdate;
    }
  }
}

std::string KernelOrigins::Describe(const ir::Kernel& kernel) const {
  std::vector<ir::NodeId> ops;
  for (ir::NodeId id : kernel.nodes) {
    if (!passes::IsInlinedGenerator(graph_.node(id))) ops.push_back(id);
  }
  if (ops.empty()) return absl::StrCat("kernel ", kernel.name);
  const ir::NodeId first = ops.front();
  const std::string in_pass = absl::StrCat(" in ", PassName(pass_[first]));
  if (ops.size() == 1) return absl::StrCat(DescribeNode(graph_.node(first)), in_pass);
  std::vector<std::string> names;
  for (ir::NodeId id : ops) names.push_back(graph_.node(id).op);
  return absl::StrCat("kernel ", kernel.name, " (", absl::StrJoin(names, ", "), "), first op ",
                      DescribeNode(graph_.node(first)), in_pass);
}

}  // namespace kiln::codegen
