// Normalization layers. batch_norm is a composite whose expansion depends on the mode: training
// normalizes with the batch's statistics and appends in-place updates of the running statistics
// to the graph (as optimizers append theirs); evaluation normalizes with the running statistics.
// Both forms are reductions with keepdim and broadcasting elementwise ops, so fusion and every
// backend handle them with no code of their own, and autodiff differentiates the training form
// (batch statistics included) from its primitives.
#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "ir/graph_builder.h"
#include "ir/op_registry.h"
#include "ir/ops/op_helpers.h"

namespace kiln::ir {
namespace {

// Operands, in order: the input [N, C, ...], then weight, bias, running_mean, running_var, each
// f32[C].
constexpr const char* kChannelOperands[] = {"weight", "bias", "running_mean", "running_var"};

absl::StatusOr<TensorType> BatchNormType(std::span<const TensorType> ops, const Attrs& attrs) {
  const TensorType& x = ops[0];
  if (x.dtype != DType::kF32 || x.rank() < 2) {
    return absl::InvalidArgumentError(
        "expects an f32 input [N, C, ...] with at least 2 dims, got " + x.ToString());
  }
  const Shape channels = {x.shape[1]};
  for (int i = 1; i < 5; ++i) {
    if (ops[i].dtype == DType::kF32 && ops[i].shape == channels) continue;
    return absl::InvalidArgumentError(
        absl::StrFormat("%s %s does not match input %s (expected f32[%d], one per channel)",
                        kChannelOperands[i - 1], ops[i].ToString(), x.ToString(), x.shape[1]));
  }
  double momentum = attrs.GetFloat("momentum", 0.1), eps = attrs.GetFloat("eps", 1e-5);
  if (!(momentum >= 0.0 && momentum <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("momentum must be in [0, 1], got %g", momentum));
  }
  if (!(eps > 0.0)) {
    return absl::InvalidArgumentError(absl::StrFormat("eps must be positive, got %g", eps));
  }
  return x;
}

// The statistics are taken over every dim but the channel dim 1.
std::vector<int64_t> StatisticDims(int64_t rank) {
  std::vector<int64_t> dims = {0};
  for (int64_t d = 2; d < rank; ++d) dims.push_back(d);
  return dims;
}

// A per-channel f32[C] viewed as [1, C, 1, ...] so that it broadcasts against the input.
NodeId PerChannel(GraphBuilder& b, NodeId channel_vector, int64_t rank) {
  Shape shape(rank, 1);
  shape[1] = b.type(channel_vector).shape[0];
  return b.Reshape(channel_vector, shape);
}

// running = (1 - m) * running + m * batch, written in place at the end of the training step.
void UpdateRunning(GraphBuilder& b, NodeId running, NodeId batch_statistic, double momentum) {
  NodeId batch = b.Reshape(batch_statistic, b.type(running).shape);
  NodeId blended =
      b.Add(b.Mul(running, b.Scalar(1.0 - momentum)), b.Mul(batch, b.Scalar(momentum)));
  b.graph().updates.push_back({running, blended});
}

// The checks a training-mode expansion needs beyond the shape rule; records a located error.
bool CanTrain(GraphBuilder& b, const Node& node, int64_t count) {
  for (int i : {3, 4}) {
    const Node& running = b.graph().node(node.operands[i]);
    if (running.op == "state") continue;
    b.Fail(
        absl::StrFormat("batch_norm '%s': the running statistics must be persistent state "
                        "(batch_norm1d and batch_norm2d create them), got %s '%s'",
                        node.name, running.op, running.name));
    return false;
  }
  if (count >= 2) return true;
  b.Fail(absl::StrFormat(
      "batch_norm '%s': training needs more than one value per channel, got input %s", node.name,
      node.type.ToString()));
  return false;
}

// x - mean and the variance to normalize by, both broadcastable against x.
struct Statistics {
  NodeId centered = kNoNode;
  NodeId var = kNoNode;
};

// The batch's mean and biased variance over every dim but 1; appends the running-statistics
// updates, which take the UNBIASED variance as PyTorch's do.
Statistics BatchStatistics(GraphBuilder& b, const Node& node, int64_t count) {
  const NodeId x = node.operands[0];
  const double momentum = node.attrs.GetFloat("momentum", 0.1);
  std::vector<int64_t> dims = StatisticDims(node.type.rank());
  NodeId n = b.Scalar(static_cast<double>(count));
  NodeId mean = b.Div(b.ReduceSum(x, dims, /*keepdim=*/true), n);
  NodeId centered = b.Sub(x, mean);
  // Two passes (mean first) rather than E[x^2] - E[x]^2, which cancels in f32. The variance's
  // gradient does not flow into the mean: d var / d mean = -2 mean(x - mean) is zero, so cutting
  // it changes no gradient, and spares the backward a third reduction over x (a sum of that zero
  // term, which also waited on the variance's gradient). What remains is PyTorch's formula:
  // sums of dy and of dy * (x - mean).
  NodeId centered_for_var = b.Sub(x, b.Op("stop_gradient", {mean}));
  NodeId var = b.Div(
      b.ReduceSum(b.Mul(centered_for_var, centered_for_var), dims, /*keepdim=*/true), n);
  UpdateRunning(b, node.operands[3], mean, momentum);
  NodeId unbiased = b.Mul(var, b.Scalar(static_cast<double>(count) / (count - 1)));
  UpdateRunning(b, node.operands[4], unbiased, momentum);
  return {centered, var};
}

// torch.nn.BatchNorm{1,2}d: y = (x - mean) / sqrt(var + eps) * weight + bias, with the batch's
// statistics in training and the running statistics in evaluation.
NodeId ExpandBatchNorm(GraphBuilder& b, const Node& node, bool training) {
  const NodeId x = node.operands[0];
  const int64_t rank = node.type.rank();
  int64_t count = 1;
  for (int64_t d : StatisticDims(rank)) count *= node.type.shape[d];
  Statistics stats;
  if (training) {
    if (!CanTrain(b, node, count)) return x;
    stats = BatchStatistics(b, node, count);
  } else {
    stats.centered = b.Sub(x, PerChannel(b, node.operands[3], rank));
    stats.var = PerChannel(b, node.operands[4], rank);
  }
  const double eps = node.attrs.GetFloat("eps", 1e-5);
  NodeId inv_std = b.Div(b.Scalar(1.0), b.Sqrt(b.Add(stats.var, b.Scalar(eps))));
  NodeId scale = b.Mul(inv_std, PerChannel(b, node.operands[1], rank));
  return b.Add(b.Mul(stats.centered, scale), PerChannel(b, node.operands[2], rank));
}

}  // namespace

void RegisterNormOps(OpRegistry& r) {
  r.Add(OpDef{.name = "batch_norm",
              .summary = "Batch normalization over dim 1 of [N, C, ...] (x, weight, bias, "
                         "running_mean, running_var); attrs momentum, eps.",
              .num_operands = 5,
              .traits = kComposite,
              .infer_type = BatchNormType,
              .expand = ExpandBatchNorm});
}

}  // namespace kiln::ir
