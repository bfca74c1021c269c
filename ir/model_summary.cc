#include "ir/model_summary.h"

#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace kiln::ir {
namespace {

bool IsWeight(const Node& node) { return node.op == "parameter" || node.op == "state"; }

std::string LayerOf(const std::string& name) {
  const size_t dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(0, dot);
}

}  // namespace

std::string DescribeModel(const Graph& model) {
  struct Layer {
    std::string name;
    int64_t params = 0;
  };
  std::vector<Layer> layers;
  std::map<std::string, size_t> index;
  int64_t trainable = 0, frozen = 0, state = 0;
  for (const Node& node : model.nodes()) {
    if (!IsWeight(node)) continue;
    const int64_t count = node.type.num_elements();
    if (node.op == "state") {
      state += count;
    } else if (node.attrs.GetInt("frozen") != 0) {
      frozen += count;
    } else {
      trainable += count;
    }
    const std::string layer = LayerOf(node.name);
    auto [it, inserted] = index.emplace(layer, layers.size());
    if (inserted) layers.push_back({layer});
    if (node.op == "parameter") layers[it->second].params += count;
  }
  std::string out = absl::StrFormat("%-32s %-14s %-22s %12s\n", "layer", "type", "output shape",
                                    "parameters");
  out += std::string(83, '-') + "\n";
  for (const Layer& layer : layers) {
    const NodeId id = model.FindByName(layer.name);
    const std::string op = id == kNoNode ? "-" : model.node(id).op;
    const std::string shape = id == kNoNode ? "-" : model.node(id).type.ToString();
    out += absl::StrFormat("%-32s %-14s %-22s %12d\n", layer.name, op, shape, layer.params);
  }
  out += std::string(83, '-') + "\n";
  out += absl::StrFormat("trainable parameters      %d\n", trainable);
  if (frozen > 0) out += absl::StrFormat("frozen parameters         %d\n", frozen);
  if (state > 0) out += absl::StrFormat("non-trainable state       %d\n", state);
  out += absl::StrFormat("total                     %d\n", trainable + frozen + state);
  return out;
}

std::string GraphToDot(const Graph& model) {
  auto quote = [](const std::string& s) {
    // Labels carry DOT's own "\n" line breaks, so only quotes are escaped.
    return "\"" + absl::StrReplaceAll(s, {{"\"", "\\\""}}) + "\"";
  };
  std::string out = absl::StrCat("digraph ", quote(model.name), " {\n  rankdir=TB;\n",
                                 "  node [fontname=\"Helvetica\", fontsize=10];\n");
  for (const Node& node : model.nodes()) {
    const std::string title = node.name.empty() ? absl::StrCat("%", node.id) : node.name;
    std::string shape = "box, style=\"rounded,filled\", fillcolor=\"#e8eef7\"";
    if (IsWeight(node)) shape = "box, style=filled, fillcolor=\"#f7e8c8\"";
    if (node.op == "input") shape = "oval, style=filled, fillcolor=\"#d8f0d8\"";
    if (node.op == "constant") shape = "plaintext";
    const std::string label = IsWeight(node) || node.op == "input"
                                  ? absl::StrCat(title, "\\n", node.type.ToString())
                                  : absl::StrCat(title, "\\n", node.op.name(), " ", node.type.ToString());
    absl::StrAppend(&out, "  n", node.id, " [shape=", shape, ", label=", quote(label), "];\n");
    for (NodeId operand : node.operands) absl::StrAppend(&out, "  n", operand, " -> n", node.id, ";\n");
  }
  for (const auto& [name, id] : model.outputs) {
    const std::string sink = quote("output " + name);
    absl::StrAppend(&out, "  ", sink, " [shape=doublecircle, label=", quote(name), "];\n", "  n",
                    id, " -> ", sink, ";\n");
  }
  out += "}\n";
  return out;
}

}  // namespace kiln::ir
