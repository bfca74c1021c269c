#include "ir/printer.h"

#include <charconv>
#include <variant>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace kiln::ir {
namespace {

std::string Quote(absl::string_view text) { return absl::StrCat("\"", absl::CEscape(text), "\""); }

bool IsIdentifier(absl::string_view text) {
  if (text.empty() || !(absl::ascii_isalpha(text[0]) || text[0] == '_')) return false;
  for (char c : text) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '.') return false;
  }
  return true;
}

struct AttrValuePrinter {
  std::string operator()(int64_t v) const { return absl::StrCat(v); }
  std::string operator()(double v) const { return FormatDouble(v); }
  std::string operator()(const std::string& v) const { return Quote(v); }
  std::string operator()(const std::vector<int64_t>& v) const {
    return absl::StrCat("[", absl::StrJoin(v, ","), "]");
  }
};

std::string FormatAttrs(const Attrs& attrs) {
  std::vector<std::string> parts;
  for (const auto& [key, value] : attrs.values()) {
    parts.push_back(absl::StrCat(key, "=", std::visit(AttrValuePrinter{}, value)));
  }
  return absl::StrCat("{", absl::StrJoin(parts, ", "), "}");
}

void AppendValue(std::string* out, NodeId id) { absl::StrAppend(out, "%", id); }

}  // namespace

std::string FormatDouble(double value) {
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  std::string text(buffer, end);
  // "1" would read back as an integer attribute; "1.0" keeps the attribute a double.
  if (text.find_first_of(".eEin") == std::string::npos) text += ".0";
  return text;
}

std::string FormatName(absl::string_view name) {
  return IsIdentifier(name) ? std::string(name) : Quote(name);
}

std::string PrintNode(const Graph& graph, NodeId id) {
  if (id < 0 || id >= graph.size()) return absl::StrCat("<no node %", id, ">");
  const Node& node = graph.node(id);
  std::string out = absl::StrCat("%", id, " = ", node.op.name(), "(");
  absl::StrAppend(&out, absl::StrJoin(node.operands, ", ", AppendValue), ")");
  if (!node.attrs.values().empty()) absl::StrAppend(&out, " ", FormatAttrs(node.attrs));
  absl::StrAppend(&out, " : ", node.type.ToString());
  if (!node.name.empty()) absl::StrAppend(&out, " name=", Quote(node.name));
  if (node.loc.known()) {
    absl::StrAppend(
        &out, " loc=",
        Quote(absl::StrFormat("%s:%d:%d", node.loc.file->path, node.loc.line, node.loc.col)));
  }
  return out;
}

std::string PrintGraph(const Graph& graph) {
  std::string out = absl::StrCat("graph ", FormatName(graph.name), " {\n");
  for (NodeId id = 0; id < graph.size(); ++id) {
    absl::StrAppend(&out, "  ", PrintNode(graph, id), "\n");
  }
  if (!graph.outputs.empty()) {
    std::vector<std::string> outputs;
    for (const auto& [name, id] : graph.outputs) {
      outputs.push_back(absl::StrCat(FormatName(name), " = %", id));
    }
    absl::StrAppend(&out, "  outputs { ", absl::StrJoin(outputs, ", "), " }\n");
  }
  if (!graph.updates.empty()) {
    std::vector<std::string> updates;
    for (const Update& u : graph.updates) {
      updates.push_back(absl::StrCat("%", u.target, " <- %", u.value));
    }
    absl::StrAppend(&out, "  updates { ", absl::StrJoin(updates, ", "), " }\n");
  }
  absl::StrAppend(&out, "}\n");
  return out;
}

}  // namespace kiln::ir
