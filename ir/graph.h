// The tensor IR: a graph of typed ops on statically shaped tensors. Nodes are stored in
// topological order (an operand always precedes its users); every node carries its source
// location so passes can report errors against the user's model file.
#ifndef KILN_IR_GRAPH_H_
#define KILN_IR_GRAPH_H_

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "ir/types.h"
#include "support/source_location.h"

namespace kiln::ir {

using NodeId = int32_t;
constexpr NodeId kNoNode = -1;

using AttrValue = std::variant<int64_t, double, std::string, std::vector<int64_t>>;

// Named op attributes (dims, transpose flags, constant values, ...). Ordered so that printing and
// hashing (CSE) are deterministic.
class Attrs {
 public:
  Attrs() = default;
  Attrs(std::initializer_list<std::pair<const std::string, AttrValue>> init) : values_(init) {}

  void Set(const std::string& key, AttrValue value) { values_[key] = std::move(value); }
  bool Has(const std::string& key) const { return values_.count(key) > 0; }
  void Erase(const std::string& key) { values_.erase(key); }
  int64_t GetInt(const std::string& key, int64_t fallback = 0) const;
  double GetFloat(const std::string& key, double fallback = 0.0) const;
  std::string GetString(const std::string& key, const std::string& fallback = "") const;
  std::vector<int64_t> GetInts(const std::string& key) const;
  const std::map<std::string, AttrValue>& values() const { return values_; }
  bool operator==(const Attrs& other) const = default;
  std::string ToString() const;  // "dims=[1], keepdim=1"

 private:
  std::map<std::string, AttrValue> values_;
};

struct OpDef;

// A node's op: its name, resolved to the op's record (ir/op_registry.h) when assigned, so passes
// and backends read the record without looking the name up. A name no op has (a typo in IR text,
// which the verifier reports) resolves to null.
class OpRef {
 public:
  OpRef() = default;
  OpRef(std::string name);  // NOLINT(google-explicit-constructor): ops are written as names.
  OpRef(const char* name) : OpRef(std::string(name)) {}  // NOLINT
  OpRef(std::string_view name) : OpRef(std::string(name)) {}  // NOLINT

  const std::string& name() const { return name_; }
  const OpDef* def() const { return def_; }
  operator const std::string&() const { return name_; }  // NOLINT: reads as the name.

  friend bool operator==(const OpRef& op, std::string_view name) { return op.name_ == name; }
  friend std::ostream& operator<<(std::ostream& out, const OpRef& op) { return out << op.name_; }

 private:
  std::string name_;
  const OpDef* def_ = nullptr;
};

struct Node {
  NodeId id = kNoNode;
  OpRef op;
  std::vector<NodeId> operands;
  Attrs attrs;
  TensorType type;
  std::string name;               // User-visible name ("fc1.weight", "h1"); may be empty.
  SourceLoc loc;
};

// A persistent tensor written back at the end of a step: `target` (a parameter or state leaf)
// takes the value of `value`. Code generation performs the write in place.
struct Update {
  NodeId target = kNoNode;
  NodeId value = kNoNode;
};

class Graph {
 public:
  std::string name;

  NodeId Add(Node node);  // Assigns and returns the id; operands must already exist.
  const Node& node(NodeId id) const { return nodes_[id]; }
  Node& mutable_node(NodeId id) { return nodes_[id]; }
  const std::vector<Node>& nodes() const { return nodes_; }
  int32_t size() const { return static_cast<int32_t>(nodes_.size()); }

  // Named results of a run ("loss", "correct", ...).
  std::vector<std::pair<std::string, NodeId>> outputs;
  std::vector<Update> updates;

  // Node id of the named output, or kNoNode.
  NodeId Output(const std::string& output_name) const;
  // Node with this user-visible name, or kNoNode.
  NodeId FindByName(const std::string& node_name) const;
  // For every node, the ids of the nodes that use it as an operand.
  std::vector<std::vector<NodeId>> Users() const;
  // Replaces every use of `from` (operands, outputs, update values) with `to`.
  void ReplaceAllUses(NodeId from, NodeId to);
  // Keeps only nodes with keep[id] set and renumbers them; returns old id -> new id (kNoNode if
  // dropped). Kept nodes must not use dropped ones.
  std::vector<NodeId> Compact(const std::vector<bool>& keep);

 private:
  std::vector<Node> nodes_;
};

}  // namespace kiln::ir

#endif  // KILN_IR_GRAPH_H_
