#include "ir/graph.h"

#include <cassert>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kiln::ir {

int64_t Attrs::GetInt(const std::string& key, int64_t fallback) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  if (auto* v = std::get_if<int64_t>(&it->second)) return *v;
  if (auto* v = std::get_if<double>(&it->second)) return static_cast<int64_t>(*v);
  return fallback;
}

double Attrs::GetFloat(const std::string& key, double fallback) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  if (auto* v = std::get_if<double>(&it->second)) return *v;
  if (auto* v = std::get_if<int64_t>(&it->second)) return static_cast<double>(*v);
  return fallback;
}

std::string Attrs::GetString(const std::string& key, const std::string& fallback) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  if (auto* v = std::get_if<std::string>(&it->second)) return *v;
  return fallback;
}

std::vector<int64_t> Attrs::GetInts(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return {};
  if (auto* v = std::get_if<std::vector<int64_t>>(&it->second)) return *v;
  if (auto* v = std::get_if<int64_t>(&it->second)) return {*v};
  return {};
}

namespace {
struct AttrPrinter {
  std::string operator()(int64_t v) const { return absl::StrCat(v); }
  std::string operator()(double v) const { return absl::StrCat(v); }
  std::string operator()(const std::string& v) const { return absl::StrCat("\"", v, "\""); }
  std::string operator()(const std::vector<int64_t>& v) const {
    return absl::StrCat("[", absl::StrJoin(v, ","), "]");
  }
};
}  // namespace

std::string Attrs::ToString() const {
  std::vector<std::string> parts;
  for (const auto& [key, value] : values_) {
    parts.push_back(absl::StrCat(key, "=", std::visit(AttrPrinter{}, value)));
  }
  return absl::StrJoin(parts, ", ");
}

NodeId Graph::Add(Node node) {
  node.id = static_cast<NodeId>(nodes_.size());
  for (NodeId operand : node.operands) {
    assert(operand >= 0 && operand < node.id && "operands must precede their users");
    (void)operand;
  }
  nodes_.push_back(std::move(node));
  return nodes_.back().id;
}

NodeId Graph::Output(const std::string& output_name) const {
  for (const auto& [name, id] : outputs) {
    if (name == output_name) return id;
  }
  return kNoNode;
}

NodeId Graph::FindByName(const std::string& node_name) const {
  for (const Node& n : nodes_) {
    if (n.name == node_name) return n.id;
  }
  return kNoNode;
}

std::vector<std::vector<NodeId>> Graph::Users() const {
  std::vector<std::vector<NodeId>> users(nodes_.size());
  for (const Node& n : nodes_) {
    for (NodeId operand : n.operands) {
      if (users[operand].empty() || users[operand].back() != n.id) users[operand].push_back(n.id);
    }
  }
  return users;
}

void Graph::ReplaceAllUses(NodeId from, NodeId to) {
  for (Node& n : nodes_) {
    for (NodeId& operand : n.operands) {
      if (operand == from) operand = to;
    }
  }
  for (auto& [name, id] : outputs) {
    if (id == from) id = to;
  }
  for (Update& u : updates) {
    if (u.value == from) u.value = to;
  }
}

std::vector<NodeId> Graph::Compact(const std::vector<bool>& keep) {
  std::vector<NodeId> remap(nodes_.size(), kNoNode);
  std::vector<Node> kept;
  for (Node& n : nodes_) {
    if (!keep[n.id]) continue;
    remap[n.id] = static_cast<NodeId>(kept.size());
    n.id = remap[n.id];
    for (NodeId& operand : n.operands) {
      operand = remap[operand];
      assert(operand != kNoNode && "a kept node uses a dropped one");
    }
    kept.push_back(std::move(n));
  }
  nodes_ = std::move(kept);
  for (auto& [name, id] : outputs) id = remap[id];
  for (Update& u : updates) {
    u.target = remap[u.target];
    u.value = remap[u.value];
  }
  return remap;
}

}  // namespace kiln::ir
