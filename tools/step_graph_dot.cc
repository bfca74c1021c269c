#include "tools/step_graph_dot.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace kiln::tools {
namespace {

std::string Quote(const std::string& text) {
  // Labels carry DOT's own "\n" line breaks, so only quotes are escaped.
  return "\"" + absl::StrReplaceAll(text, {{"\"", "\\\""}}) + "\"";
}

std::string NodeLabel(const ir::Node& node) {
  const std::string title = node.name.empty() ? absl::StrCat("%", node.id) : node.name;
  return absl::StrCat(title, "\\n", node.op.name(), " ", node.type.ToString());
}

// How a node outside every kernel looks: by the buffer that holds its value.
std::string LeafStyle(const ir::KernelProgram& program, ir::NodeId id) {
  const std::vector<int>& buffer_of = program.memory.node_buffer;
  const int buffer = id < static_cast<int>(buffer_of.size()) ? buffer_of[id] : -1;
  if (buffer < 0) return "plaintext";
  switch (program.memory.buffers[buffer].kind) {
    case ir::BufferKind::kInput:
      return "oval, style=filled, fillcolor=\"#d8f0d8\"";
    case ir::BufferKind::kPersistent:
      return "box, style=filled, fillcolor=\"#f7e8c8\"";
    default:
      return "box";
  }
}

}  // namespace

std::string StepGraphToDot(const ir::KernelProgram& program) {
  const ir::Graph& graph = program.graph;
  std::string out = absl::StrCat("digraph ", Quote(graph.name), " {\n  rankdir=TB;\n",
                                 "  node [fontname=\"Helvetica\", fontsize=10];\n",
                                 "  graph [fontname=\"Helvetica\", fontsize=11];\n");
  std::vector<bool> in_kernel(graph.size(), false);
  for (const ir::Kernel& kernel : program.kernels) {
    absl::StrAppend(&out, "  subgraph ", Quote("cluster_" + kernel.name),
                    " {\n    label=", Quote(kernel.name),
                    "; style=\"rounded,filled\"; fillcolor=\"#f4f4f4\"; color=\"#999999\";\n");
    for (ir::NodeId id : kernel.nodes) {
      in_kernel[id] = true;
      absl::StrAppend(&out, "    n", id,
                      " [shape=box, style=\"rounded,filled\", fillcolor=\"#e8eef7\", label=",
                      Quote(NodeLabel(graph.node(id))), "];\n");
    }
    out += "  }\n";
  }
  for (const ir::Node& node : graph.nodes()) {
    if (in_kernel[node.id]) continue;
    absl::StrAppend(&out, "  n", node.id, " [shape=", LeafStyle(program, node.id),
                    ", label=", Quote(NodeLabel(node)), "];\n");
  }
  for (const ir::Node& node : graph.nodes()) {
    for (ir::NodeId operand : node.operands) {
      absl::StrAppend(&out, "  n", operand, " -> n", node.id, ";\n");
    }
  }
  for (const ir::Update& update : graph.updates) {
    absl::StrAppend(&out, "  n", update.value, " -> n", update.target,
                    " [style=dashed, color=\"#b07020\", constraint=false];\n");
  }
  for (const auto& [name, id] : graph.outputs) {
    const std::string sink = Quote("output " + name);
    absl::StrAppend(&out, "  ", sink, " [shape=doublecircle, label=", Quote(name), "];\n  n", id,
                    " -> ", sink, ";\n");
  }
  out += "}\n";
  return out;
}

}  // namespace kiln::tools
