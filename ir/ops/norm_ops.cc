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

// torch.nn.BatchNorm{1,2}d: y = (x - mean) / sqrt(var + eps) * weight + bias. Training uses the
// batch mean and biased variance and moves the running statistics towards the batch's with the
// UNBIASED variance, as PyTorch does; evaluation uses the running statistics.
NodeId ExpandBatchNorm(GraphBuilder& b, const Node& node, bool training) {
  NodeId x = node.operands[0], weight = node.operands[1], bias = node.operands[2];
  NodeId running_mean = node.operands[3], running_var = node.operands[4];
  const int64_t rank = node.type.rank();
  const double momentum = node.attrs.GetFloat("momentum", 0.1);
  const double eps = node.attrs.GetFloat("eps", 1e-5);
  NodeId centered, var;
  if (training) {
    for (NodeId running : {running_mean, running_var}) {
      if (b.graph().node(running).op == "state") continue;
      b.Fail(
          absl::StrFormat("batch_norm '%s': the running statistics must be persistent state "
                          "(batch_norm1d and batch_norm2d create them), got %s '%s'",
                          node.name, b.graph().node(running).op, b.graph().node(running).name));
      return x;
    }
    std::vector<int64_t> dims = StatisticDims(rank);
    int64_t count = 1;
    for (int64_t d : dims) count *= node.type.shape[d];
    if (count < 2) {
      b.Fail(
          absl::StrFormat("batch_norm '%s': training needs more than one value per channel, "
                          "got input %s",
                          node.name, node.type.ToString()));
      return x;
    }
    NodeId n = b.Scalar(static_cast<double>(count));
    NodeId mean = b.Div(b.ReduceSum(x, dims, /*keepdim=*/true), n);
    centered = b.Sub(x, mean);
    // Two passes (mean first) rather than E[x^2] - E[x]^2, which cancels in f32.
    var = b.Div(b.ReduceSum(b.Mul(centered, centered), dims, /*keepdim=*/true), n);
    UpdateRunning(b, running_mean, mean, momentum);
    NodeId unbiased = b.Mul(var, b.Scalar(static_cast<double>(count) / (count - 1)));
    UpdateRunning(b, running_var, unbiased, momentum);
  } else {
    centered = b.Sub(x, PerChannel(b, running_mean, rank));
    var = PerChannel(b, running_var, rank);
  }
  NodeId inv_std = b.Div(b.Scalar(1.0), b.Sqrt(b.Add(var, b.Scalar(eps))));
  NodeId scale = b.Mul(inv_std, PerChannel(b, weight, rank));
  return b.Add(b.Mul(centered, scale), PerChannel(b, bias, rank));
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
