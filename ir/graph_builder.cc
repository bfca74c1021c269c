#include "ir/graph_builder.h"

#include "absl/strings/str_cat.h"
#include "ir/op_registry.h"

namespace kiln::ir {

NodeId GraphBuilder::Op(const std::string& op, std::vector<NodeId> operands, Attrs attrs,
                        std::string name) {
  if (!status_.ok()) return kNoNode;
  auto def = OpRegistry::Global().Lookup(op);
  if (!def.ok()) {
    status_ = ErrorAt(loc_, def.status().message());
    return kNoNode;
  }
  std::vector<TensorType> operand_types;
  for (NodeId operand : operands) {
    if (operand == kNoNode) {
      status_ = ErrorAt(loc_, absl::StrCat(op, ": missing operand"));
      return kNoNode;
    }
    operand_types.push_back(graph_.node(operand).type);
  }
  if ((*def)->num_operands >= 0 && (*def)->num_operands != static_cast<int>(operands.size())) {
    status_ = ErrorAt(loc_, absl::StrCat(op, " takes ", (*def)->num_operands, " operands, got ",
                                         operands.size()));
    return kNoNode;
  }
  auto type = (*def)->infer_type(operand_types, attrs);
  absl::Status size = type.ok() ? CheckTensorSize(type->dtype, type->shape) : type.status();
  if (!size.ok()) {
    std::string who = name.empty() ? op : absl::StrCat(op, " '", name, "'");
    status_ = ErrorAt(loc_, absl::StrCat(who, ": ", size.message()));
    return kNoNode;
  }
  Node node;
  node.op = op;
  node.operands = std::move(operands);
  node.attrs = std::move(attrs);
  node.type = *std::move(type);
  node.name = std::move(name);
  node.loc = loc_;
  return graph_.Add(std::move(node));
}

void GraphBuilder::Fail(const std::string& message) {
  if (status_.ok()) status_ = ErrorAt(loc_, message);
}

NodeId GraphBuilder::Input(const std::string& name, TensorType type) {
  return Op("input", {},
            {{"dtype", std::string(DTypeName(type.dtype))}, {"shape", type.shape}}, name);
}

NodeId GraphBuilder::Parameter(const std::string& name, TensorType type, Attrs init) {
  init.Set("dtype", std::string(DTypeName(type.dtype)));
  init.Set("shape", type.shape);
  return Op("parameter", {}, std::move(init), name);
}

NodeId GraphBuilder::State(const std::string& name, TensorType type, double initial_value) {
  return Op("state", {},
            {{"dtype", std::string(DTypeName(type.dtype))},
             {"shape", type.shape},
             {"value", initial_value}},
            name);
}

NodeId GraphBuilder::Constant(double value, TensorType type) {
  return Op("constant", {},
            {{"dtype", std::string(DTypeName(type.dtype))}, {"shape", type.shape},
             {"value", value}});
}

NodeId GraphBuilder::Cast(NodeId a, DType to) {
  return Op("cast", {a}, {{"dtype", std::string(DTypeName(to))}});
}

NodeId GraphBuilder::ReduceSum(NodeId a, std::vector<int64_t> dims, bool keepdim) {
  return Op("reduce_sum", {a}, {{"dims", std::move(dims)}, {"keepdim", int64_t{keepdim}}});
}

NodeId GraphBuilder::ReduceMax(NodeId a, std::vector<int64_t> dims, bool keepdim) {
  return Op("reduce_max", {a}, {{"dims", std::move(dims)}, {"keepdim", int64_t{keepdim}}});
}

NodeId GraphBuilder::ArgMax(NodeId a, int64_t dim) {
  return Op("argmax", {a}, {{"dims", std::vector<int64_t>{dim}}, {"keepdim", int64_t{0}}});
}

NodeId GraphBuilder::Reshape(NodeId a, Shape shape) {
  return Op("reshape", {a}, {{"shape", std::move(shape)}});
}

NodeId GraphBuilder::BroadcastTo(NodeId a, Shape shape) {
  return Op("broadcast_to", {a}, {{"shape", std::move(shape)}});
}

NodeId GraphBuilder::Transpose(NodeId a, std::vector<int64_t> perm) {
  return Op("transpose", {a}, {{"perm", std::move(perm)}});
}

NodeId GraphBuilder::MatMul(NodeId a, NodeId b, bool transpose_a, bool transpose_b) {
  return Op("matmul", {a, b},
            {{"transpose_a", int64_t{transpose_a}}, {"transpose_b", int64_t{transpose_b}}});
}

NodeId GraphBuilder::Iota(Shape shape, int64_t dim, DType dtype) {
  return Op("iota", {},
            {{"shape", std::move(shape)}, {"dim", dim},
             {"dtype", std::string(DTypeName(dtype))}});
}

NodeId GraphBuilder::SumToShape(NodeId grad, Shape shape) {
  if (!status_.ok()) return kNoNode;
  const Shape from = type(grad).shape;
  if (from == shape) return grad;
  // Broadcasting aligned shapes on the right: sum the leading extra dims and the dims where the
  // target has size 1, then restore the target's rank.
  std::vector<int64_t> dims;
  size_t extra = from.size() - shape.size();
  for (size_t i = 0; i < from.size(); ++i) {
    if (i < extra || (shape[i - extra] == 1 && from[i] != 1)) dims.push_back(i);
  }
  NodeId summed = dims.empty() ? grad : ReduceSum(grad, dims, /*keepdim=*/false);
  if (!status_.ok()) return kNoNode;
  return type(summed).shape == shape ? summed : Reshape(summed, shape);
}

}  // namespace kiln::ir
