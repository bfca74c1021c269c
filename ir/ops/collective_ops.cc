// Collectives: ops whose value depends on every rank of a data-parallel job. Every rank runs the
// same step graph, so every rank issues the same collectives in the same order (no negotiation).
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "ir/graph_builder.h"
#include "ir/op_registry.h"

namespace kiln::ir {
namespace {

using Grads = std::vector<std::optional<NodeId>>;

// Flat f32 buffers only: the data-parallel pass packs gradients into such buckets, and a flat
// buffer is what a communicator (MPI_Allreduce, ncclAllReduce) takes.
absl::StatusOr<TensorType> FlatF32(std::span<const TensorType> operands, const Attrs&) {
  const TensorType& t = operands[0];
  if (t.dtype != DType::kF32 || t.rank() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("all_reduce takes a flat f32 tensor (f32[n]), not ", t.ToString()));
  }
  return t;
}

const OpDef kAllReduce = {
    .name = "all_reduce",
    .summary = "Mean over the ranks of a data-parallel job of a flat f32 buffer (identity on one "
               "rank).",
    .num_operands = 1,
    // kElementwise with the identity formula is the world-size-1 lowering both backends share;
    // kCollective keeps it a kernel of its own (fusion) and out of constant folding.
    .traits = kElementwise | kCollective,
    .infer_type = FlatF32,
    // The mean over ranks is linear and the same on every rank: its adjoint is itself.
    .gradient = [](GradContext& g) -> Grads { return {g.b.Op("all_reduce", {g.output_grad})}; },
    .emit_element = [](kernel::ScalarBuilder&, const ElementInputs& in) { return in.operands[0]; },
};

}  // namespace

void RegisterCollectiveOps(OpRegistry& r) { r.Add(kAllReduce); }

}  // namespace kiln::ir
