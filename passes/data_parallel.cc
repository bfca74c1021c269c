#include "passes/data_parallel.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ir/graph_builder.h"
#include "ir/op_registry.h"
#include "support/status.h"

namespace kiln::passes {
namespace {

// A value every rank computes identically without communicating: a generator (constant, iota)
// reads only its attrs.
bool SameOnEveryRank(const ir::Graph& graph, ir::NodeId id) {
  return ir::OpOf(graph.node(id)).Has(ir::kGenerator);
}

// `value` reshaped to `shape`, or `value` itself where it has that shape already.
ir::NodeId ReshapeTo(ir::GraphBuilder& b, ir::NodeId value, const ir::Shape& shape) {
  if (b.type(value).shape == shape) return value;
  return b.Reshape(value, shape);
}

// Packs `members` (indices into `grads`) into one flat buffer, all-reduces it and writes each
// member's averaged gradient back into `out`.
void ReduceBucket(ir::GraphBuilder& b, std::span<const ir::NodeId> grads,
                  const std::vector<size_t>& members, std::vector<ir::NodeId>& out) {
  std::vector<ir::NodeId> flat;
  for (size_t i : members) flat.push_back(ReshapeTo(b, grads[i], {b.type(grads[i]).num_elements()}));
  const ir::NodeId packed = flat.size() == 1 ? flat[0] : b.Op("concat", flat, {{"dim", int64_t{0}}});
  const ir::NodeId mean = b.Op("all_reduce", {packed});
  if (members.size() == 1) {
    out[members[0]] = ReshapeTo(b, mean, ir::Shape(b.type(grads[members[0]]).shape));
    return;
  }
  int64_t offset = 0;
  for (size_t i : members) {
    const int64_t size = b.type(grads[i]).num_elements();
    const ir::NodeId part = b.Op("slice", {mean},
                                 {{"starts", std::vector<int64_t>{offset}},
                                  {"stops", std::vector<int64_t>{offset + size}},
                                  {"steps", std::vector<int64_t>{1}}});
    out[i] = ReshapeTo(b, part, ir::Shape(b.type(grads[i]).shape));
    offset += size;
  }
}

}  // namespace

absl::StatusOr<std::vector<ir::NodeId>> AllReduceGradients(ir::Graph& graph,
                                                           std::span<const ir::NodeId> grads,
                                                           const DataParallelOptions& options) {
  if (options.bucket_bytes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("data parallel: bucket size must be positive, got ", options.bucket_bytes));
  }
  std::vector<ir::NodeId> out(grads.begin(), grads.end());
  std::vector<std::vector<size_t>> buckets;
  int64_t bucket_bytes = 0;
  for (size_t i = 0; i < grads.size(); ++i) {
    const ir::Node& grad = graph.node(grads[i]);
    if (grad.type.dtype != ir::DType::kF32) {
      return absl::InvalidArgumentError(absl::StrCat(
          "data parallel: gradient %", grads[i], " is ", grad.type.ToString(), ", not f32"));
    }
    if (SameOnEveryRank(graph, grads[i])) continue;
    const int64_t bytes = grad.type.num_elements() * 4;
    if (buckets.empty() || bucket_bytes + bytes > options.bucket_bytes) {
      buckets.emplace_back();
      bucket_bytes = 0;
    }
    buckets.back().push_back(i);
    bucket_bytes += bytes;
  }
  ir::GraphBuilder b(graph);
  for (const std::vector<size_t>& members : buckets) {
    b.set_loc(graph.node(grads[members.front()]).loc);
    ReduceBucket(b, grads, members, out);
  }
  KILN_RETURN_IF_ERROR(b.status());
  return out;
}

absl::StatusOr<bool> AllReduceGradientOutputs(ir::Graph& graph,
                                              const DataParallelOptions& options) {
  std::vector<size_t> positions;
  std::vector<ir::NodeId> grads;
  for (size_t i = 0; i < graph.outputs.size(); ++i) {
    if (!absl::StartsWith(graph.outputs[i].first, "grad.")) continue;
    positions.push_back(i);
    grads.push_back(graph.outputs[i].second);
  }
  KILN_ASSIGN_OR_RETURN(std::vector<ir::NodeId> reduced, AllReduceGradients(graph, grads, options));
  bool changed = false;
  for (size_t i = 0; i < positions.size(); ++i) {
    changed |= reduced[i] != grads[i];
    graph.outputs[positions[i]].second = reduced[i];
  }
  return changed;
}

}  // namespace kiln::passes
