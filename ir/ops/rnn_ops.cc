// The Elman RNN of torch.nn.RNN (one layer, tanh, batch_first), as a composite unrolled over the
// static sequence length: one GEMM projects every step's input, then each step is a slice, a
// GEMM with the recurrent weight, an add and a tanh, and the steps are concatenated. Autodiff,
// fusion and both backends see only primitive ops, so backpropagation through time needs no
// RNN-specific code.
//
// Operands: x [B, T, I], weight_ih [H, I], weight_hh [H, H] (PyTorch's layouts), then bias_ih [H]
// and bias_hh [H] when attr `bias` is 1 (the default), then h0 [B, H] when attr `h0` is 1 (else
// the initial state is zero). Result: the output sequence [B, T, H]; its last step is h_n.
#include "absl/strings/str_cat.h"
#include "ir/graph_builder.h"
#include "ir/op_registry.h"
#include "ir/ops/op_helpers.h"

namespace kiln::ir {
namespace {

struct RnnOperands {
  bool bias = true;
  bool h0 = false;
  size_t count() const { return 3 + (bias ? 2 : 0) + (h0 ? 1 : 0); }
};

RnnOperands OperandsOf(const Attrs& attrs) {
  return {attrs.GetInt("bias", 1) != 0, attrs.GetInt("h0", 0) != 0};
}

absl::Status ShapeMismatch(const char* what, const TensorType& got, const Shape& expected) {
  return absl::InvalidArgumentError(absl::StrCat("rnn: ", what, " is ", got.ToString(),
                                                 ", expected f32", ShapeToString(expected)));
}

absl::StatusOr<TensorType> RnnType(std::span<const TensorType> ops, const Attrs& attrs) {
  const RnnOperands layout = OperandsOf(attrs);
  if (ops.size() != layout.count()) {
    return absl::InvalidArgumentError(absl::StrCat("rnn: expected ", layout.count(),
                                                   " operands, got ", ops.size()));
  }
  const TensorType& x = ops[0];
  if (auto s = RequireFloat(x, "the input"); !s.ok()) return s;
  if (x.rank() != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("rnn: input must be [batch, time, features], got ", x.ToString()));
  }
  const int64_t batch = x.shape[0], steps = x.shape[1], features = x.shape[2];
  const int64_t hidden = ops[1].rank() == 2 ? ops[1].shape[0] : -1;
  auto expect = [](const TensorType& t, const Shape& shape) {
    return t.dtype == DType::kF32 && t.shape == shape;
  };
  if (hidden <= 0 || !expect(ops[1], {hidden, features})) {
    return absl::InvalidArgumentError(absl::StrCat("rnn: weight_ih ", ops[1].ToString(),
                                                   " does not fit input ", x.ToString(),
                                                   " (expected [hidden, ", features, "])"));
  }
  if (!expect(ops[2], {hidden, hidden})) return ShapeMismatch("weight_hh", ops[2], {hidden, hidden});
  size_t next = 3;
  if (layout.bias) {
    if (!expect(ops[3], {hidden})) return ShapeMismatch("bias_ih", ops[3], {hidden});
    if (!expect(ops[4], {hidden})) return ShapeMismatch("bias_hh", ops[4], {hidden});
    next = 5;
  }
  if (layout.h0 && !expect(ops[next], {batch, hidden})) {
    return ShapeMismatch("the initial state h0", ops[next], {batch, hidden});
  }
  return TensorType{DType::kF32, {batch, steps, hidden}};
}

NodeId ExpandRnn(GraphBuilder& b, const Node& node, bool) {
  const RnnOperands layout = OperandsOf(node.attrs);
  const NodeId x = node.operands[0], weight_ih = node.operands[1], weight_hh = node.operands[2];
  const Shape x_shape = b.type(x).shape;
  const int64_t batch = x_shape[0], steps = x_shape[1], features = x_shape[2];
  const int64_t hidden = node.type.shape[2];
  // Every step's input projection in one GEMM, with both biases added once.
  NodeId projected = b.Reshape(
      b.MatMul(b.Reshape(x, {batch * steps, features}), weight_ih, false, /*transpose_b=*/true),
      {batch, steps, hidden});
  if (layout.bias) projected = b.Add(projected, b.Add(node.operands[3], node.operands[4]));
  NodeId h = layout.h0 ? node.operands[layout.count() - 1] : kNoNode;
  std::vector<NodeId> outputs;
  for (int64_t t = 0; t < steps; ++t) {
    NodeId step = b.Reshape(b.Op("slice", {projected},
                                 {{"starts", std::vector<int64_t>{0, t, 0}},
                                  {"stops", std::vector<int64_t>{batch, t + 1, hidden}},
                                  {"steps", std::vector<int64_t>{1, 1, 1}}}),
                            {batch, hidden});
    // A zero initial state contributes nothing: the first step skips its GEMM.
    if (h != kNoNode) step = b.Add(step, b.MatMul(h, weight_hh, false, /*transpose_b=*/true));
    h = b.Op("tanh", {step});
    outputs.push_back(b.Reshape(h, {batch, 1, hidden}));
  }
  return outputs.size() == 1 ? outputs[0] : b.Op("concat", outputs, {{"dim", int64_t{1}}});
}

}  // namespace

void RegisterRnnOps(OpRegistry& r) {
  r.Add(Composite("rnn",
                  "Elman RNN (tanh, batch_first): x [B,T,I], weight_ih [H,I], weight_hh [H,H], "
                  "biases [H] (attr bias), h0 [B,H] (attr h0) -> [B,T,H].",
                  -1, RnnType, ExpandRnn));
}

}  // namespace kiln::ir
