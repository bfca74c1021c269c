#include "ir/verifier.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ir/op_registry.h"
#include "ir/printer.h"
#include "support/source_location.h"
#include "support/status.h"

namespace kiln::ir {
namespace {

// "file:line:col: error: message" plus the quoted source line when the file's text is at hand.
// A graph loaded from a model file keeps paths but not text, and gets no empty quote and caret.
std::string Diagnostic(const SourceLoc& loc, absl::string_view message) {
  if (loc.known() && loc.file->text.empty()) {
    return absl::StrCat(loc.ToString(), ": error: ", message);
  }
  return FormatDiagnostic(loc, message);
}

absl::Status NodeError(const Graph& graph, NodeId id, absl::string_view reason) {
  const Node& node = graph.node(id);
  std::string who = node.name.empty() ? node.op.name() : absl::StrCat(node.op.name(), " '", node.name, "'");
  return absl::InternalError(Diagnostic(
      node.loc, absl::StrCat("invalid IR: ", who, ": ", reason, "\n  in: ", PrintNode(graph, id))));
}

absl::Status GraphError(absl::string_view reason) {
  return absl::InternalError(absl::StrCat("error: invalid IR: ", reason));
}

bool IsValid(const Graph& graph, NodeId id) { return id >= 0 && id < graph.size(); }

absl::Status VerifyNode(const Graph& graph, NodeId id) {
  const Node& node = graph.node(id);
  if (node.id != id) {
    return NodeError(graph, id, absl::StrFormat("stored at index %d but has id %d", id, node.id));
  }
  const OpDef* def = node.op.def();
  if (def == nullptr) {
    return NodeError(graph, id,
                     absl::StrCat("unknown op '", node.op.name(), "'",
                                  DidYouMean(node.op.name(), OpRegistry::Global().Names())));
  }
  for (NodeId operand : node.operands) {
    if (operand < 0 || operand >= id) {
      return NodeError(graph, id,
                       absl::StrFormat("operand %%%d does not precede its user", operand));
    }
  }
  if (def->num_operands >= 0 && def->num_operands != static_cast<int>(node.operands.size())) {
    return NodeError(
        graph, id,
        absl::StrFormat("takes %d operands, got %d", def->num_operands, node.operands.size()));
  }
  std::vector<TensorType> operand_types;
  for (NodeId operand : node.operands) operand_types.push_back(graph.node(operand).type);
  absl::StatusOr<TensorType> inferred = def->infer_type(operand_types, node.attrs);
  if (!inferred.ok()) return NodeError(graph, id, inferred.status().message());
  absl::Status size = CheckTensorSize(inferred->dtype, inferred->shape);
  if (!size.ok()) return NodeError(graph, id, size.message());
  if (*inferred != node.type) {
    return NodeError(graph, id,
                     absl::StrFormat("stored type %s but the op infers %s", node.type.ToString(),
                                     inferred->ToString()));
  }
  return absl::OkStatus();
}

absl::Status VerifyLeafNames(const Graph& graph) {
  std::map<std::string, NodeId> leaves;
  for (const Node& node : graph.nodes()) {
    if (!OpOf(node).IsBoundLeaf()) continue;  // Only bound leaves need names.
    if (node.name.empty()) return NodeError(graph, node.id, "has no name to bind it by");
    auto [it, inserted] = leaves.emplace(node.name, node.id);
    if (!inserted) {
      return NodeError(graph, node.id,
                       absl::StrFormat("name '%s' is already used by %%%d", node.name, it->second));
    }
  }
  return absl::OkStatus();
}

absl::Status VerifyOutputs(const Graph& graph) {
  std::set<std::string> names;
  for (const auto& [name, id] : graph.outputs) {
    if (!IsValid(graph, id)) {
      return GraphError(absl::StrFormat("output '%s' refers to %%%d, but the graph has %d nodes",
                                        name, id, graph.size()));
    }
    if (name.empty()) return GraphError(absl::StrFormat("output %%%d has no name", id));
    if (!names.insert(name).second) {
      return GraphError(absl::StrFormat("output name '%s' is used twice", name));
    }
  }
  return absl::OkStatus();
}

absl::Status VerifyUpdate(const Graph& graph, const Update& update) {
  if (!IsValid(graph, update.target) || !IsValid(graph, update.value)) {
    return GraphError(
        absl::StrFormat("update %%%d <- %%%d refers to a node outside the graph "
                        "(%d nodes)",
                        update.target, update.value, graph.size()));
  }
  const Node& target = graph.node(update.target);
  const OpDef& def = OpOf(target);
  if (!def.Has(kLeaf) || !def.Has(kPersistent)) {
    return NodeError(graph, update.target, "is updated but is not a persistent leaf");
  }
  const TensorType& value_type = graph.node(update.value).type;
  if (value_type != target.type) {
    return NodeError(graph, update.target,
                     absl::StrFormat("is updated with %%%d of type %s, but has type %s",
                                     update.value, value_type.ToString(), target.type.ToString()));
  }
  return absl::OkStatus();
}

absl::Status VerifyUpdates(const Graph& graph) {
  std::set<NodeId> targets;
  for (const Update& update : graph.updates) {
    KILN_RETURN_IF_ERROR(VerifyUpdate(graph, update));
    if (!targets.insert(update.target).second) {
      return NodeError(graph, update.target, "is updated twice in one step");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status VerifyGraph(const Graph& graph) {
  for (NodeId id = 0; id < graph.size(); ++id) KILN_RETURN_IF_ERROR(VerifyNode(graph, id));
  // Every op is known from here on, so OpOf is safe.
  KILN_RETURN_IF_ERROR(VerifyLeafNames(graph));
  KILN_RETURN_IF_ERROR(VerifyOutputs(graph));
  return VerifyUpdates(graph);
}

}  // namespace kiln::ir
