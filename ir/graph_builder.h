// GraphBuilder appends nodes to a Graph, inferring each node's type as it goes. The frontend,
// composite expansions, gradient rules and optimizers all build IR through it.
//
// Errors are sticky (as in XLA's XlaBuilder): the first failed node records a located error and
// later calls return kNoNode, so long formulas read straight; check status() at the end.
//
//   GraphBuilder b(graph);
//   NodeId h = b.Relu(b.Add(b.MatMul(x, w), bias));
//   KILN_RETURN_IF_ERROR(b.status());
#ifndef KILN_IR_GRAPH_BUILDER_H_
#define KILN_IR_GRAPH_BUILDER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "ir/graph.h"
#include "ir/types.h"
#include "support/source_location.h"

namespace kiln::ir {

class GraphBuilder {
 public:
  explicit GraphBuilder(Graph& graph) : graph_(graph) {}

  Graph& graph() { return graph_; }
  const TensorType& type(NodeId id) const { return graph_.node(id).type; }
  const absl::Status& status() const { return status_; }
  // Records a located error (unless one is already recorded): for rules that find a node
  // invalid in a way no shape rule sees, such as batch statistics over a single value.
  void Fail(const std::string& message);

  // Location and name given to the nodes created next (until changed).
  void set_loc(SourceLoc loc) { loc_ = std::move(loc); }
  const SourceLoc& loc() const { return loc_; }

  // Adds a node of any registered op; infers its type. The error for a bad op or a shape rule
  // violation reads "<loc>: error: <op> '<name>': <reason>".
  NodeId Op(const std::string& op, std::vector<NodeId> operands, Attrs attrs = {},
            std::string name = "");

  // Leaves.
  NodeId Input(const std::string& name, TensorType type);
  NodeId Parameter(const std::string& name, TensorType type, Attrs init);
  NodeId State(const std::string& name, TensorType type, double initial_value = 0.0);
  NodeId Constant(double value, TensorType type);
  NodeId Scalar(double value) { return Constant(value, TensorType{DType::kF32, {}}); }

  // Elementwise (NumPy broadcasting).
  NodeId Add(NodeId a, NodeId b) { return Op("add", {a, b}); }
  NodeId Sub(NodeId a, NodeId b) { return Op("sub", {a, b}); }
  NodeId Mul(NodeId a, NodeId b) { return Op("mul", {a, b}); }
  NodeId Div(NodeId a, NodeId b) { return Op("div", {a, b}); }
  NodeId Maximum(NodeId a, NodeId b) { return Op("maximum", {a, b}); }
  NodeId Pow(NodeId a, NodeId b) { return Op("pow", {a, b}); }
  NodeId Neg(NodeId a) { return Op("neg", {a}); }
  NodeId Exp(NodeId a) { return Op("exp", {a}); }
  NodeId Log(NodeId a) { return Op("log", {a}); }
  NodeId Sqrt(NodeId a) { return Op("sqrt", {a}); }
  NodeId Relu(NodeId a) { return Op("relu", {a}); }
  NodeId Greater(NodeId a, NodeId b) { return Op("greater", {a, b}); }  // f32 0/1
  NodeId Equal(NodeId a, NodeId b) { return Op("equal", {a, b}); }      // f32 0/1
  NodeId Select(NodeId cond, NodeId a, NodeId b) { return Op("select", {cond, a, b}); }
  NodeId Cast(NodeId a, DType to);

  // Reductions.
  NodeId ReduceSum(NodeId a, std::vector<int64_t> dims, bool keepdim = false);
  NodeId ReduceMax(NodeId a, std::vector<int64_t> dims, bool keepdim = false);
  NodeId ArgMax(NodeId a, int64_t dim);

  // Shapes and layout.
  NodeId Reshape(NodeId a, Shape shape);
  NodeId BroadcastTo(NodeId a, Shape shape);
  NodeId Transpose(NodeId a, std::vector<int64_t> perm);
  NodeId MatMul(NodeId a, NodeId b, bool transpose_a = false, bool transpose_b = false);
  NodeId Iota(Shape shape, int64_t dim, DType dtype = DType::kI64);

  // Sums `grad` (shaped like a broadcast result) back down to `shape`: the gradient of an
  // implicit NumPy broadcast.
  // `shape` is taken by value: callers often pass a node's shape, and adding nodes may move it.
  NodeId SumToShape(NodeId grad, Shape shape);

 private:
  Graph& graph_;
  SourceLoc loc_;
  absl::Status status_;
};

}  // namespace kiln::ir

#endif  // KILN_IR_GRAPH_BUILDER_H_
