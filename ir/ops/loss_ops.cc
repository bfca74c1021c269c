// Losses with PyTorch's formulas and reductions (attr `reduction`: mean | sum | none). Each is a
// composite: it keeps its name in the IR (dumps and errors speak the user's language) and expands
// into primitives before autodiff, so its gradient is the chain rule through the formula.
// Classification losses also say what they predict (OpDef::predict): evaluation counts accuracy
// from that, so no pass needs to know which loss a model uses.
#include <limits>
#include <numeric>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "ir/graph_builder.h"
#include "ir/op_registry.h"
#include "ir/ops/op_helpers.h"

namespace kiln::ir {
namespace {

std::string ReductionOf(const Node& node) { return node.attrs.GetString("reduction", "mean"); }

// The loss's type: per-sample (or per-element) losses for reduction=none, else a scalar.
absl::StatusOr<TensorType> Reduced(const Shape& unreduced, const Attrs& attrs) {
  std::string reduction = attrs.GetString("reduction", "mean");
  if (reduction == "none") return TensorType{DType::kF32, unreduced};
  if (reduction == "mean" || reduction == "sum") return TensorType{DType::kF32, {}};
  return absl::InvalidArgumentError("reduction must be mean, sum or none, got " + reduction);
}

// reduction=none keeps `losses`; sum and mean fold every element.
NodeId ReduceAll(GraphBuilder& b, NodeId losses, const std::string& reduction) {
  Shape shape = b.type(losses).shape;
  if (reduction == "none" || shape.empty()) return losses;
  std::vector<int64_t> dims(shape.size());
  std::iota(dims.begin(), dims.end(), 0);
  NodeId total = b.ReduceSum(losses, dims);
  if (reduction == "sum") return total;
  return b.Div(total, b.Scalar(static_cast<double>(NumElements(shape))));
}

std::optional<NodeId> OptionalOperand(const Node& node, size_t i) {
  return node.operands.size() > i ? std::optional<NodeId>(node.operands[i]) : std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// nll_loss and cross_entropy: scores [N, C] against class indices i64 [N] or (cross_entropy)
// class probabilities f32 [N, C], with optional class weights f32 [C].

absl::StatusOr<TensorType> ClassLossType(std::span<const TensorType> ops, const Attrs& attrs,
                                         bool takes_probabilities) {
  if (ops.size() != 2 && ops.size() != 3) {
    return absl::InvalidArgumentError("expects (input, target) or (input, target, weight)");
  }
  const TensorType& x = ops[0];
  const TensorType& t = ops[1];
  if (x.dtype != DType::kF32 || x.rank() != 2) {
    return absl::InvalidArgumentError("expects f32[N,C] scores, got " + x.ToString());
  }
  const bool indices = t.dtype == DType::kI64 && t.shape == Shape{x.shape[0]};
  const bool probabilities = takes_probabilities && t.dtype == DType::kF32 && t.shape == x.shape;
  if (!indices && !probabilities) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "target %s does not match input %s (expected i64[%d] class indices%s)", t.ToString(),
        x.ToString(), x.shape[0],
        takes_probabilities ? absl::StrFormat(" or f32%s class probabilities",
                                              ShapeToString(x.shape))
                            : ""));
  }
  if (ops.size() == 3 && (ops[2].dtype != DType::kF32 || ops[2].shape != Shape{x.shape[1]})) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "class weights %s do not match input %s (expected f32[%d])", ops[2].ToString(), x.ToString(),
        x.shape[1]));
  }
  double smoothing = attrs.GetFloat("label_smoothing", 0.0);
  if (!(smoothing >= 0.0 && smoothing <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("label_smoothing must be in [0, 1], got %g", smoothing));
  }
  return Reduced({x.shape[0]}, attrs);
}

// The one-hot matrix of `target` ([N, C], f32 0/1) scaled by the class weights when given: row i
// holds w[t_i] at column t_i. A product rather than a gather, so it fuses into the reductions.
NodeId SampleWeights(GraphBuilder& b, NodeId target, const Shape& scores,
                     std::optional<NodeId> weight) {
  // Named locals fix the node order (argument evaluation order is unspecified in C++).
  NodeId column = b.Reshape(target, {scores[0], 1});
  NodeId classes = b.Iota(scores, 1);
  NodeId one_hot = b.Equal(column, classes);
  return weight ? b.Mul(one_hot, *weight) : one_hot;
}

// loss_i = -w[t_i] * logp[i, t_i]; mean divides by sum_i w[t_i] (N without weights), as
// torch.nn.functional.nll_loss does.
NodeId NllLoss(GraphBuilder& b, NodeId logp, NodeId target, std::optional<NodeId> weight,
               const std::string& reduction) {
  Shape shape = b.type(logp).shape;
  NodeId sample_weight = SampleWeights(b, target, shape, weight);
  NodeId picked = b.Mul(logp, sample_weight);
  if (reduction == "none") return b.Neg(b.ReduceSum(picked, {1}));
  NodeId total = b.Neg(b.ReduceSum(picked, {0, 1}));
  if (reduction == "sum") return total;
  NodeId denom = weight ? b.ReduceSum(sample_weight, {0, 1})
                        : b.Scalar(static_cast<double>(shape[0]));
  return b.Div(total, denom);
}

NodeId ExpandNllLoss(GraphBuilder& b, const Node& node, bool) {
  return NllLoss(b, node.operands[0], node.operands[1], OptionalOperand(node, 2),
                 ReductionOf(node));
}

// Label smoothing's second term for class-index targets (PyTorch 1.13):
// smooth_i = -sum_c w_c logp[i, c], reduced like nll_loss (mean divides by sum_i w[t_i]).
NodeId SmoothingTerm(GraphBuilder& b, NodeId logp, NodeId target, std::optional<NodeId> weight,
                     const std::string& reduction) {
  Shape shape = b.type(logp).shape;
  NodeId weighted = weight ? b.Mul(logp, *weight) : logp;
  NodeId per_sample = b.Neg(b.ReduceSum(weighted, {1}));
  if (reduction == "none") return per_sample;
  NodeId total = b.ReduceSum(per_sample, {0});
  if (reduction == "sum") return total;
  NodeId denom = weight ? b.ReduceSum(SampleWeights(b, target, shape, weight), {0, 1})
                        : b.Scalar(static_cast<double>(shape[0]));
  return b.Div(total, denom);
}

// Probability targets: loss_i = -sum_c w_c q[i, c] logp[i, c], with q = p (1 - s) + s / C under
// label smoothing s; mean divides by N whatever the weights, as PyTorch does.
NodeId ProbabilityCrossEntropy(GraphBuilder& b, NodeId logp, NodeId target,
                               std::optional<NodeId> weight, const std::string& reduction,
                               double smoothing) {
  Shape shape = b.type(logp).shape;
  const double classes = static_cast<double>(shape[1]);
  NodeId q = smoothing > 0.0
                 ? b.Add(b.Mul(target, b.Scalar(1.0 - smoothing)), b.Scalar(smoothing / classes))
                 : target;
  NodeId picked = b.Mul(logp, q);
  if (weight) picked = b.Mul(picked, *weight);
  if (reduction == "none") return b.Neg(b.ReduceSum(picked, {1}));
  NodeId total = b.Neg(b.ReduceSum(picked, {0, 1}));
  if (reduction == "sum") return total;
  return b.Div(total, b.Scalar(static_cast<double>(shape[0])));
}

// cross_entropy = nll_loss(log_softmax(logits, 1), target) for class indices; with label
// smoothing s, (1 - s) nll + (s / C) smoothing term, as torch.nn.functional.cross_entropy.
NodeId ExpandCrossEntropy(GraphBuilder& b, const Node& node, bool) {
  NodeId logp = LogSoftmaxAlong(b, node.operands[0], 1);
  NodeId target = node.operands[1];
  std::optional<NodeId> weight = OptionalOperand(node, 2);
  std::string reduction = ReductionOf(node);
  double smoothing = node.attrs.GetFloat("label_smoothing", 0.0);
  if (b.type(target).dtype == DType::kF32) {
    return ProbabilityCrossEntropy(b, logp, target, weight, reduction, smoothing);
  }
  NodeId nll = NllLoss(b, logp, target, weight, reduction);
  if (smoothing == 0.0) return nll;
  const double classes = static_cast<double>(b.type(logp).shape[1]);
  NodeId smooth = SmoothingTerm(b, logp, target, weight, reduction);
  return b.Add(b.Mul(nll, b.Scalar(1.0 - smoothing)), b.Mul(smooth, b.Scalar(smoothing / classes)));
}

// The highest score is the predicted class; a probability target's class is its most likely one.
// The probabilities are exp of nll_loss's log-probabilities, softmax of cross_entropy's logits.
std::optional<Prediction> PredictClass(GraphBuilder& b, const Node& loss, bool logits) {
  NodeId scores = loss.operands[0];
  NodeId target = loss.operands[1];
  Prediction p;
  p.predicted = b.ArgMax(scores, 1);
  p.truth = b.type(target).dtype == DType::kI64 ? target : b.ArgMax(target, 1);
  p.probabilities = b.Exp(logits ? LogSoftmaxAlong(b, scores, 1) : scores);
  return p;
}

// ---------------------------------------------------------------------------------------------
// Elementwise losses: input and target f32 of one shape, losses per element. `extra` names the
// optional third operand (BCE's weight, the logit form's pos_weight), which must broadcast to the
// input's shape.

absl::StatusOr<TensorType> PairType(std::span<const TensorType> ops, const Attrs& attrs,
                                    const char* extra) {
  const size_t max_operands = extra != nullptr ? 3 : 2;
  if (ops.size() < 2 || ops.size() > max_operands) {
    return absl::InvalidArgumentError(
        extra != nullptr ? absl::StrFormat("expects (input, target) or (input, target, %s)", extra)
                         : std::string("expects (input, target)"));
  }
  if (auto s = RequireFloat(ops[0], "the input"); !s.ok()) return s;
  if (ops[1].dtype != DType::kF32 || ops[1].shape != ops[0].shape) {
    return absl::InvalidArgumentError(
        absl::StrFormat("target %s does not match input %s (expected f32%s)", ops[1].ToString(),
                        ops[0].ToString(), ShapeToString(ops[0].shape)));
  }
  if (ops.size() == 3) {
    const std::vector<TensorType> pair = {ops[0], ops[2]};
    absl::StatusOr<TensorType> both = BroadcastOperands(pair);
    if (!both.ok() || both->shape != ops[0].shape) {
      return absl::InvalidArgumentError(absl::StrFormat("%s %s does not broadcast to input %s",
                                                        extra, ops[2].ToString(),
                                                        ops[0].ToString()));
    }
  }
  double beta = attrs.GetFloat("beta", 1.0);
  if (!(beta >= 0.0)) {
    return absl::InvalidArgumentError(absl::StrFormat("beta must be >= 0, got %g", beta));
  }
  return Reduced(ops[0].shape, attrs);
}

// binary_cross_entropy's per-element loss is a primitive of its own because PyTorch's backward is
// not the derivative of its forward: d/dp = (p - t) / max(p (1 - p), 1e-12), which is bounded
// where the chain rule's t/p would blow up (after a sigmoid that saturates, |logit| > ~27.6, the
// gradient then shrinks towards 0 instead of staying at -1). Matching it is part of matching
// PyTorch. Forward, as ATen's CPU kernel: (t - 1) max(log1p(-p), -100) - t max(log(p), -100).
constexpr double kBceLogFloor = -100.0;
constexpr double kBceEpsilon = 1e-12;

// max(v, -100) that lets NaN through (std::max(NaN, -100) is NaN, as in ATen).
kernel::Value AtLeastLogFloor(kernel::ScalarBuilder& b, kernel::Value v) {
  kernel::Value floor = b.ConstF32(kBceLogFloor);
  return b.Select(b.CmpGT(floor, v), floor, v);
}

// log1p(-p) without a log1p primitive: with u = 1 - p rounded, log(u) * (-p) / (u - 1) is
// accurate to a few ulps (Goldberg's trick); u == 1 means p is below half an ulp of 1, where
// log1p(-p) = -p.
kernel::Value Log1pOfNegative(kernel::ScalarBuilder& b, kernel::Value p) {
  kernel::Value one = b.ConstF32(1.0);
  kernel::Value u = b.Sub(one, p);
  kernel::Value minus_p = b.Neg(p);
  kernel::Value scaled = b.Div(b.Mul(b.Log(u), minus_p), b.Sub(u, one));
  return b.Select(b.CmpEQ(u, one), minus_p, scaled);
}

const OpDef kBinaryCrossEntropyTerm = {
    .name = "binary_cross_entropy_term",
    .summary = "Per-element BCE of probability p and target t, with PyTorch's clamps and "
               "backward (d/dp = (p - t) / max(p (1 - p), 1e-12)).",
    .num_operands = 2,
    .traits = kElementwise,
    .infer_type = [](std::span<const TensorType> ops, const Attrs&) -> absl::StatusOr<TensorType> {
      if (ops[0].dtype != DType::kF32 || ops[1].dtype != DType::kF32 ||
          ops[0].shape != ops[1].shape) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "expects f32 probability and target of one shape, got %s and %s", ops[0].ToString(),
            ops[1].ToString()));
      }
      return ops[0];
    },
    // d/dt = log(1 - p) - log(p) = -logit(p), ATen's binary_cross_entropy_target_backward.
    .gradient = [](GradContext& g) -> std::vector<std::optional<NodeId>> {
      NodeId p = g.operand(0), t = g.operand(1);
      NodeId one = g.b.Scalar(1.0);
      NodeId variance = g.b.Mul(g.b.Sub(one, p), p);
      NodeId denominator = g.b.Maximum(variance, g.b.Scalar(kBceEpsilon));
      NodeId grad_p = g.b.Div(g.b.Mul(g.output_grad, g.b.Sub(p, t)), denominator);
      NodeId grad_t = g.b.Mul(g.output_grad, g.b.Sub(g.b.Log(g.b.Sub(one, p)), g.b.Log(p)));
      return {grad_p, grad_t};
    },
    .emit_element = [](kernel::ScalarBuilder& b, const ElementInputs& in) {
      kernel::Value p = in.operands[0], t = in.operands[1];
      kernel::Value log_p = AtLeastLogFloor(b, b.Log(p));
      kernel::Value log_q = AtLeastLogFloor(b, Log1pOfNegative(b, p));
      return b.Sub(b.Mul(b.Sub(t, b.ConstF32(1.0)), log_q), b.Mul(t, log_p));
    },
};

// mean / sum of w * binary_cross_entropy_term(p, t).
NodeId ExpandBinaryCrossEntropy(GraphBuilder& b, const Node& node, bool) {
  NodeId losses = b.Op(kBinaryCrossEntropyTerm.name, {node.operands[0], node.operands[1]});
  if (std::optional<NodeId> weight = OptionalOperand(node, 2)) losses = b.Mul(losses, *weight);
  return ReduceAll(b, losses, ReductionOf(node));
}

// (1 - t) x + (1 + (pos_weight - 1) t) log(1 + exp(-x)), with log(1 + exp(-x)) written as
// m + log(exp(-m) + exp(-x - m)), m = max(-x, 0), so no exp overflows (PyTorch's form).
NodeId ExpandBceWithLogits(GraphBuilder& b, const Node& node, bool) {
  NodeId x = node.operands[0], t = node.operands[1];
  NodeId one = b.Scalar(1.0);
  NodeId m = b.Relu(b.Neg(x));
  NodeId sum_of_exps = b.Add(b.Exp(b.Neg(m)), b.Exp(b.Sub(b.Neg(x), m)));
  NodeId softplus_neg_x = b.Add(m, b.Log(sum_of_exps));
  std::optional<NodeId> pos_weight = OptionalOperand(node, 2);
  NodeId positive = softplus_neg_x;
  if (pos_weight) {
    NodeId log_weight = b.Add(one, b.Mul(b.Sub(*pos_weight, one), t));
    positive = b.Mul(log_weight, softplus_neg_x);
  }
  NodeId losses = b.Add(b.Mul(b.Sub(one, t), x), positive);
  return ReduceAll(b, losses, ReductionOf(node));
}

// One output per sample ([N] or [N, 1]): positive when the probability passes 0.5 (the logit
// passes 0); the target's class is whether it passes 0.5.
std::optional<Prediction> PredictBinary(GraphBuilder& b, const Node& loss, bool logits) {
  const double threshold = logits ? 0.0 : 0.5;
  Shape shape = b.type(loss.operands[0]).shape;
  if (shape.empty() || shape.size() > 2 || (shape.size() == 2 && shape[1] != 1)) {
    return std::nullopt;
  }
  auto positive = [&](NodeId v, double at) {
    NodeId flat = shape.size() == 2 ? b.Reshape(v, {shape[0]}) : v;
    return b.Cast(b.Greater(flat, b.Scalar(at)), DType::kI64);
  };
  Prediction p;
  p.predicted = positive(loss.operands[0], threshold);
  p.truth = positive(loss.operands[1], 0.5);
  NodeId probability = logits ? b.Op("sigmoid", {loss.operands[0]}) : loss.operands[0];
  p.probabilities = b.Reshape(probability, {shape[0], 1});
  return p;
}

NodeId ExpandMseLoss(GraphBuilder& b, const Node& node, bool) {
  NodeId d = b.Sub(node.operands[0], node.operands[1]);
  return ReduceAll(b, b.Mul(d, d), ReductionOf(node));
}

NodeId ExpandL1Loss(GraphBuilder& b, const Node& node, bool) {
  NodeId d = b.Sub(node.operands[0], node.operands[1]);
  return ReduceAll(b, b.Op("abs", {d}), ReductionOf(node));
}

// 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta; beta = 0 is the L1 loss.
NodeId ExpandSmoothL1Loss(GraphBuilder& b, const Node& node, bool) {
  double beta = node.attrs.GetFloat("beta", 1.0);
  NodeId d = b.Sub(node.operands[0], node.operands[1]);
  NodeId magnitude = b.Op("abs", {d});
  if (beta == 0.0) return ReduceAll(b, magnitude, ReductionOf(node));
  NodeId quadratic = b.Mul(b.Mul(d, d), b.Scalar(0.5 / beta));
  NodeId linear = b.Sub(magnitude, b.Scalar(0.5 * beta));
  NodeId inside = b.Greater(b.Scalar(beta), magnitude);
  return ReduceAll(b, b.Select(inside, quadratic, linear), ReductionOf(node));
}

OpDef Loss(std::string name, std::string summary, InferTypeFn infer, ExpandFn expand,
           PredictFn predict = nullptr) {
  return OpDef{.name = std::move(name),
               .summary = std::move(summary),
               .num_operands = -1,
               .traits = kComposite,
               .infer_type = std::move(infer),
               .expand = std::move(expand),
               .predict = std::move(predict)};
}

InferTypeFn ClassLoss(bool takes_probabilities) {
  return [takes_probabilities](std::span<const TensorType> ops, const Attrs& attrs) {
    return ClassLossType(ops, attrs, takes_probabilities);
  };
}

InferTypeFn PairLoss(const char* extra) {
  return [extra](std::span<const TensorType> ops, const Attrs& attrs) {
    return PairType(ops, attrs, extra);
  };
}

}  // namespace

void RegisterLossOps(OpRegistry& r) {
  r.Add(kBinaryCrossEntropyTerm);
  r.Add(Loss("nll_loss", "Negative log-likelihood of class indices; optional class weights.",
             ClassLoss(false), ExpandNllLoss,
             [](GraphBuilder& b, const Node& loss) { return PredictClass(b, loss, false); }));
  r.Add(Loss("cross_entropy",
             "nll_loss(log_softmax(logits, 1), target) for class indices, or -sum(q log_softmax) "
             "for class probabilities; optional class weights and `label_smoothing`.",
             ClassLoss(true), ExpandCrossEntropy,
             [](GraphBuilder& b, const Node& loss) { return PredictClass(b, loss, true); }));
  r.Add(Loss("binary_cross_entropy",
             "-w (t log p + (1 - t) log(1 - p)), each log clamped at -100.", PairLoss("weight"),
             ExpandBinaryCrossEntropy,
             [](GraphBuilder& b, const Node& loss) { return PredictBinary(b, loss, false); }));
  r.Add(Loss("binary_cross_entropy_with_logits",
             "binary_cross_entropy(sigmoid(x), t) in a stable form; optional `pos_weight`.",
             PairLoss("pos_weight"), ExpandBceWithLogits,
             [](GraphBuilder& b, const Node& loss) { return PredictBinary(b, loss, true); }));
  r.Add(Loss("mse_loss", "(input - target)^2.", PairLoss(nullptr), ExpandMseLoss));
  r.Add(Loss("l1_loss", "|input - target|.", PairLoss(nullptr), ExpandL1Loss));
  r.Add(Loss("smooth_l1_loss",
             "0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target).",
             PairLoss(nullptr), ExpandSmoothL1Loss));
}

}  // namespace kiln::ir
