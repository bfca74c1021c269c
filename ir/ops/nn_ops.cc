// Neural-network layers and losses. These are composites: they keep their own name in the IR
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

// x - max(x) along dim, with the max excluded from differentiation: the result of (log-)softmax
// does not depend on it, and leaving it out gives the textbook gradient.
NodeId Shifted(GraphBuilder& b, NodeId x, int64_t dim) {
  return b.Sub(x, b.Op("stop_gradient", {b.ReduceMax(x, {dim}, /*keepdim=*/true)}));
}

int64_t DimOf(const Node& node) {
  int64_t dim = node.attrs.GetInt("dim", -1);
  return dim < 0 ? dim + node.type.rank() : dim;
}

NodeId ExpandLogSoftmax(GraphBuilder& b, const Node& node, bool) {
  int64_t dim = DimOf(node);
  NodeId s = Shifted(b, node.operands[0], dim);
  return b.Sub(s, b.Log(b.ReduceSum(b.Exp(s), {dim}, /*keepdim=*/true)));
}

NodeId ExpandSoftmax(GraphBuilder& b, const Node& node, bool) {
  int64_t dim = DimOf(node);
  NodeId e = b.Exp(Shifted(b, node.operands[0], dim));
  return b.Div(e, b.ReduceSum(e, {dim}, /*keepdim=*/true));
}

absl::StatusOr<TensorType> NllLossType(std::span<const TensorType> ops, const Attrs& attrs) {
  if (ops.size() != 2 && ops.size() != 3) {
    return absl::InvalidArgumentError("expects (input, target) or (input, target, weight)");
  }
  const TensorType& x = ops[0];
  const TensorType& t = ops[1];
  if (x.dtype != DType::kF32 || x.rank() != 2) {
    return absl::InvalidArgumentError("expects f32[N,C] scores, got " + x.ToString());
  }
  if (t.dtype != DType::kI64 || t.shape != Shape{x.shape[0]}) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "target %s does not match input %s (expected i64[%d] class indices)", t.ToString(),
        x.ToString(), x.shape[0]));
  }
  if (ops.size() == 3 && (ops[2].dtype != DType::kF32 || ops[2].shape != Shape{x.shape[1]})) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "class weights %s do not match input %s (expected f32[%d])", ops[2].ToString(), x.ToString(),
        x.shape[1]));
  }
  std::string reduction = attrs.GetString("reduction", "mean");
  if (reduction == "none") return TensorType{DType::kF32, {x.shape[0]}};
  if (reduction != "mean" && reduction != "sum") {
    return absl::InvalidArgumentError("reduction must be mean, sum or none, got " + reduction);
  }
  return TensorType{DType::kF32, {}};
}

// loss_i = -w[t_i] * logp[i, t_i]; mean divides by sum_i w[t_i] (N without weights), as
// torch.nn.functional.nll_loss does. The pick is a one-hot product so it fuses into the
// reduction instead of needing a gather kernel.
NodeId NllLoss(GraphBuilder& b, NodeId logp, NodeId target, std::optional<NodeId> weight,
               const std::string& reduction) {
  Shape shape = b.type(logp).shape;
  // Named locals fix the node order (argument evaluation order is unspecified in C++).
  NodeId column = b.Reshape(target, {shape[0], 1});
  NodeId classes = b.Iota(shape, 1);
  NodeId one_hot = b.Equal(column, classes);
  NodeId sample_weight = weight ? b.Mul(one_hot, *weight) : one_hot;
  NodeId picked = b.Mul(logp, sample_weight);
  if (reduction == "none") return b.Neg(b.ReduceSum(picked, {1}));
  NodeId total = b.Neg(b.ReduceSum(picked, {0, 1}));
  if (reduction == "sum") return total;
  NodeId denom = weight ? b.ReduceSum(sample_weight, {0, 1})
                        : b.Scalar(static_cast<double>(shape[0]));
  return b.Div(total, denom);
}

std::optional<NodeId> OptionalOperand(const Node& node, size_t i) {
  return node.operands.size() > i ? std::optional<NodeId>(node.operands[i]) : std::nullopt;
}

NodeId ExpandNllLoss(GraphBuilder& b, const Node& node, bool) {
  return NllLoss(b, node.operands[0], node.operands[1], OptionalOperand(node, 2),
                 node.attrs.GetString("reduction", "mean"));
}

NodeId ExpandCrossEntropy(GraphBuilder& b, const Node& node, bool) {
  NodeId s = Shifted(b, node.operands[0], 1);
  NodeId logp = b.Sub(s, b.Log(b.ReduceSum(b.Exp(s), {1}, /*keepdim=*/true)));
  return NllLoss(b, logp, node.operands[1], OptionalOperand(node, 2),
                 node.attrs.GetString("reduction", "mean"));
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
  r.Add(Composite("nll_loss", "Negative log-likelihood of class indices; optional class weights.",
                  -1, NllLossType, ExpandNllLoss));
  r.Add(Composite("cross_entropy", "nll_loss(log_softmax(logits, 1), target).", -1, NllLossType,
                  ExpandCrossEntropy));
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
