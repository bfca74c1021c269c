// Neural-network layers (losses are in loss_ops.cc). These are composites: they keep their own name in the IR
// (so dumps and errors speak the user's language) and expand into primitives before autodiff,
// which therefore needs no gradient rules of their own.
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "ir/graph_builder.h"
#include "ir/op_registry.h"
#include "ir/ops/op_helpers.h"

namespace kiln::ir {
namespace {

absl::StatusOr<TensorType> LinearType(std::span<const TensorType> ops, const Attrs&) {
  if (ops.size() != 2 && ops.size() != 3) {
    return absl::InvalidArgumentError("expects (input, weight) or (input, weight, bias)");
  }
  const TensorType& x = ops[0];
  const TensorType& w = ops[1];
  if (x.dtype != DType::kF32 || x.rank() < 1 || w.dtype != DType::kF32 || w.rank() != 2) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "expects an f32 input and a 2-D f32 weight, got %s and %s", x.ToString(), w.ToString()));
  }
  if (x.shape.back() != w.shape[0]) {
    return absl::InvalidArgumentError(
        absl::StrFormat("input %s does not match weight %s (in_features %d vs %d)", x.ToString(),
                        w.ToString(), x.shape.back(), w.shape[0]));
  }
  if (ops.size() == 3 && (ops[2].dtype != DType::kF32 || ops[2].shape != Shape{w.shape[1]})) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "bias %s does not match weight %s (expected f32[%d])", ops[2].ToString(), w.ToString(),
        w.shape[1]));
  }
  TensorType out = x;
  out.shape.back() = w.shape[1];
  return out;
}

NodeId ExpandLinear(GraphBuilder& b, const Node& node, bool) {
  NodeId x = node.operands[0], w = node.operands[1];
  Shape in_shape = b.type(x).shape;
  Shape out_shape = node.type.shape;
  if (in_shape.size() != 2) x = b.Reshape(x, {-1, in_shape.back()});
  NodeId y = b.MatMul(x, w);
  if (node.operands.size() == 3) y = b.Add(y, node.operands[2]);
  return out_shape.size() == 2 ? y : b.Reshape(y, out_shape);
}

absl::StatusOr<TensorType> SoftmaxType(std::span<const TensorType> ops, const Attrs& attrs) {
  if (auto s = RequireFloat(ops[0], "the input"); !s.ok()) return s;
  if (auto d = NormalizeDim(attrs.GetInt("dim", -1), ops[0].rank()); !d.ok()) return d.status();
  return ops[0];
}

int64_t DimOf(const Node& node) {
  int64_t dim = node.attrs.GetInt("dim", -1);
  return dim < 0 ? dim + node.type.rank() : dim;
}

NodeId ExpandLogSoftmax(GraphBuilder& b, const Node& node, bool) {
  return LogSoftmaxAlong(b, node.operands[0], DimOf(node));
}

NodeId ExpandSoftmax(GraphBuilder& b, const Node& node, bool) {
  return SoftmaxAlong(b, node.operands[0], DimOf(node));
}

absl::StatusOr<TensorType> DropoutType(std::span<const TensorType> ops, const Attrs& attrs) {
  double p = attrs.GetFloat("p", 0.5);
  if (!(p >= 0.0 && p < 1.0)) {
    return absl::InvalidArgumentError(absl::StrFormat("p must be in [0, 1), got %g", p));
  }
  if (auto s = RequireFloat(ops[0], "the input"); !s.ok()) return s;
  return ops[0];
}

// The name of the per-step random key the runtime feeds (see runtime/trainer).
constexpr char kRngInput[] = "kiln.rng";

// Training: keep each element with probability 1-p and scale kept ones by 1/(1-p), like
// torch.nn.Dropout. Evaluation: identity.
NodeId ExpandDropout(GraphBuilder& b, const Node& node, bool training) {
  double p = node.attrs.GetFloat("p", 0.5);
  NodeId x = node.operands[0];
  if (!training || p == 0.0) return x;
  NodeId key = b.graph().FindByName(kRngInput);
  if (key == kNoNode) key = b.Input(kRngInput, TensorType{DType::kI64, {}});
  NodeId noise = b.Op("random_uniform", {key},
                      {{"shape", node.type.shape}, {"salt", int64_t{node.id}}});
  NodeId keep = b.Op("greater_equal", {noise, b.Scalar(p)});
  return b.Mul(x, b.Mul(keep, b.Scalar(1.0 / (1.0 - p))));
}

absl::StatusOr<TensorType> FlattenType(std::span<const TensorType> ops, const Attrs& attrs) {
  auto start = NormalizeDim(attrs.GetInt("start_dim", 1), ops[0].rank());
  if (!start.ok()) return start.status();
  TensorType out{ops[0].dtype, {}};
  for (int64_t d = 0; d < *start; ++d) out.shape.push_back(ops[0].shape[d]);
  int64_t rest = 1;
  for (int64_t d = *start; d < ops[0].rank(); ++d) rest *= ops[0].shape[d];
  out.shape.push_back(rest);
  return out;
}

NodeId ExpandFlatten(GraphBuilder& b, const Node& node, bool) {
  return b.Reshape(node.operands[0], node.type.shape);
}

absl::StatusOr<TensorType> OneHotType(std::span<const TensorType> ops, const Attrs& attrs) {
  int64_t classes = attrs.GetInt("num_classes", 0);
  if (ops[0].dtype != DType::kI64 || classes <= 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "expects i64 class indices and num_classes > 0, got %s and %d", ops[0].ToString(),
        classes));
  }
  TensorType out{DType::kF32, ops[0].shape};
  out.shape.push_back(classes);
  return out;
}

// f32 0/1 (PyTorch gives i64; kiln's targets are f32): index == iota along a new last dim.
NodeId ExpandOneHot(GraphBuilder& b, const Node& node, bool) {
  Shape column = b.type(node.operands[0]).shape;
  column.push_back(1);
  return b.Equal(b.Reshape(node.operands[0], column), b.Iota(node.type.shape, node.type.rank() - 1));
}

NodeId ExpandReduceMean(GraphBuilder& b, const Node& node, bool) {
  NodeId x = node.operands[0];
  const Shape& in = b.type(x).shape;
  int64_t count = 1;
  for (int64_t d : node.attrs.GetInts("dims")) count *= in[d < 0 ? d + in.size() : d];
  NodeId sum = b.ReduceSum(x, node.attrs.GetInts("dims"), node.attrs.GetInt("keepdim") != 0);
  return b.Div(sum, b.Scalar(static_cast<double>(count)));
}

// var = sum((x - mean)^2) / (n - correction) over `dims`, with correction 1 when `unbiased`
// (the default, as in torch.var) and 0 otherwise. Two passes (mean first) rather than
// E[x^2] - E[x]^2, which cancels catastrophically in f32.
NodeId Variance(GraphBuilder& b, const Node& node) {
  NodeId x = node.operands[0];
  std::vector<int64_t> dims = node.attrs.GetInts("dims");
  bool keepdim = node.attrs.GetInt("keepdim") != 0;
  bool unbiased = node.attrs.GetInt("unbiased", 1) != 0;
  const Shape& in = b.type(x).shape;
  int64_t count = 1;
  for (int64_t d : dims) count *= in[d < 0 ? d + in.size() : d];
  NodeId sum = b.ReduceSum(x, dims, /*keepdim=*/true);
  NodeId mean = b.Div(sum, b.Scalar(static_cast<double>(count)));
  NodeId centered = b.Sub(x, mean);
  NodeId squares = b.Mul(centered, centered);
  NodeId total = b.ReduceSum(squares, dims, keepdim);
  return b.Div(total, b.Scalar(static_cast<double>(count - (unbiased ? 1 : 0))));
}

NodeId ExpandVar(GraphBuilder& b, const Node& node, bool) { return Variance(b, node); }
NodeId ExpandStd(GraphBuilder& b, const Node& node, bool) { return b.Sqrt(Variance(b, node)); }

absl::StatusOr<TensorType> MomentType(std::span<const TensorType> ops, const Attrs& attrs) {
  // The expansion divides by the count, which needs a float.
  if (auto s = RequireFloat(ops[0], "the input"); !s.ok()) return s;
  return OpRegistry::Global().Find("reduce_sum")->infer_type(ops, attrs);
}

}  // namespace

void RegisterNnOps(OpRegistry& r) {
  r.Add(Composite("linear", "x @ weight + bias (weight stored [in, out]).", -1, LinearType,
                  ExpandLinear));
  r.Add(Composite("softmax", "exp(x) / sum(exp(x)) along `dim`.", 1, SoftmaxType, ExpandSoftmax));
  r.Add(Composite("log_softmax", "x - logsumexp(x) along `dim`.", 1, SoftmaxType,
                  ExpandLogSoftmax));
  r.Add(Composite("dropout", "Zeroes elements with probability `p` in training.", 1, DropoutType,
                  ExpandDropout));
  r.Add(Composite("flatten", "Collapses dims from `start_dim` on into one.", 1, FlattenType,
                  ExpandFlatten));
  r.Add(Composite("one_hot", "f32 one-hot rows of i64 class indices; attr num_classes.", 1,
                  OneHotType, ExpandOneHot));
  r.Add(Composite("reduce_mean", "Mean over `dims`.", 1, MomentType, ExpandReduceMean));
  r.Add(Composite("var", "Variance over `dims`; `unbiased` (default 1) divides by n - 1.", 1,
                  MomentType, ExpandVar));
  r.Add(Composite("std", "Standard deviation over `dims`: sqrt(var).", 1, MomentType,
                  ExpandStd));
}

}  // namespace kiln::ir
