#include "passes/convolve_input_gradients.h"

#include <optional>
#include <vector>

#include "ir/graph_builder.h"
#include "ir/op_registry.h"
#include "passes/rebuild_graph.h"
#include "support/status.h"

namespace kiln::passes {
namespace {

using ir::Graph;
using ir::Node;
using ir::NodeId;
using ir::Shape;

// dx = box(sum of the patches of gradient @ weight): what the rewrite needs of one match.
struct Match {
  NodeId gradient = ir::kNoNode;  // [N*OH*OW, OC]
  NodeId weight = ir::kNoNode;    // [OC, KH*KW*C], or [KH*KW*C, OC] when transposed.
  bool weight_transposed = false;
  int64_t n = 0, oh = 0, ow = 0, oc = 0, kh = 0, kw = 0, c = 0;
  int64_t h = 0, w = 0;       // The box's height and width.
  int64_t top = 0, left = 0;  // Where dy's first row and column land in its padded copy.
};

std::optional<Match> MatchBox(const Graph& graph, const Node& box,
                              const std::vector<std::vector<NodeId>>& users) {
  const ir::OpDef& box_def = ir::OpOf(box);
  if (!box_def.box_start || box.type.rank() != 4) return std::nullopt;
  const std::optional<std::vector<int64_t>> starts = box_def.box_start(box);
  const Node& sum = graph.node(box.operands[0]);
  const ir::OpDef& sum_def = ir::OpOf(sum);
  if (!starts || !sum_def.patch_sum || users[sum.id].size() != 1) return std::nullopt;
  const std::optional<ir::PatchSum> patches = sum_def.patch_sum(sum);
  if (!patches || !patches->channels_last || patches->channel_major) return std::nullopt;
  const ir::WindowGeometry& g = patches->window;
  if (g.stride_h != 1 || g.stride_w != 1 || g.dilation_h != 1 || g.dilation_w != 1 ||
      g.pad_h != 0 || g.pad_w != 0 || g.kernel_h * g.kernel_w == 1) {
    return std::nullopt;
  }
  NodeId product = sum.operands[0];
  while (ir::OpOf(graph.node(product)).Has(ir::kAlias)) product = graph.node(product).operands[0];
  const Node& mm = graph.node(product);
  if (!ir::OpOf(mm).Has(ir::kContraction) || mm.attrs.GetInt("transpose_a", 0) != 0) {
    return std::nullopt;
  }
  const Shape& image = sum.type.shape;  // [N, Hp, Wp, C]
  const Shape& kept = box.type.shape;   // [N, H, W, C]
  Match m;
  m.n = image[0];
  m.c = image[3];
  m.kh = g.kernel_h;
  m.kw = g.kernel_w;
  m.oh = g.out_h;
  m.ow = g.out_w;
  m.h = kept[1];
  m.w = kept[2];
  m.gradient = mm.operands[0];
  m.weight = mm.operands[1];
  m.weight_transposed = mm.attrs.GetInt("transpose_b", 0) != 0;
  m.oc = graph.node(m.gradient).type.shape[1];
  if ((*starts)[0] != 0 || (*starts)[3] != 0 || kept[0] != m.n || kept[3] != m.c ||
      mm.type.shape != Shape{m.n * m.oh * m.ow, m.kh * m.kw * m.c}) {
    return std::nullopt;
  }
  // Box row h sums dy rows h + start - kh; in dy padded by `top`, row h + kh' with kh' = KH-1-kh.
  m.top = m.kh - 1 - (*starts)[1];
  m.left = m.kw - 1 - (*starts)[2];
  const int64_t bottom = m.h + m.kh - 1 - m.top - m.oh, right = m.w + m.kw - 1 - m.left - m.ow;
  if (m.top < 0 || m.left < 0 || bottom < 0 || right < 0) return std::nullopt;
  return m;
}

// The box as a convolution (the header's formula), built from the remapped gradient and weight.
NodeId Convolve(ir::GraphBuilder& b, const Match& m, NodeId gradient, NodeId weight) {
  NodeId dy = b.Reshape(gradient, {m.n, m.oh, m.ow, m.oc});
  const Shape padded = {m.n, m.h + m.kh - 1, m.w + m.kw - 1, m.oc};
  if (padded != b.type(dy).shape) {
    dy = b.Op("pad", {dy}, {{"lo", std::vector<int64_t>{0, m.top, m.left, 0}}, {"shape", padded}});
  }
  NodeId patches = b.Op("im2col", {b.Transpose(dy, {0, 3, 1, 2})},
                        {{"kernel", std::vector<int64_t>{m.kh, m.kw}}});
  NodeId rows = b.Reshape(patches, {m.n * m.h * m.w, m.kh * m.kw * m.oc});
  // The weight as [OC, KH*KW, C], its taps gathered last to first (index KH*KW-1 - tap, from
  // an iota: one loop kernel), then stacked tap-major as [KH*KW*OC, C].
  const int64_t taps = m.kh * m.kw;
  NodeId by_tap = m.weight_transposed
                      ? b.Reshape(b.Transpose(b.Reshape(weight, {taps, m.c, m.oc}), {2, 0, 1}),
                                  {m.oc, taps, m.c})
                      : b.Reshape(weight, {m.oc, taps, m.c});
  const Shape gathered = {m.oc, taps, m.c};
  NodeId last_first =
      b.Cast(b.Sub(b.Scalar(static_cast<double>(taps - 1)), b.Iota(gathered, 1, ir::DType::kF32)),
             ir::DType::kI64);
  NodeId reversed = b.Op("gather", {by_tap, last_first}, {{"dim", int64_t{1}}});
  NodeId flipped = b.Reshape(b.Transpose(reversed, {1, 0, 2}), {taps * m.oc, m.c});
  return b.Reshape(b.MatMul(rows, flipped), {m.n, m.h, m.w, m.c});
}

}  // namespace

absl::StatusOr<bool> ConvolveInputGradients(Graph& graph) {
  const std::vector<std::vector<NodeId>> users = graph.Users();
  std::vector<std::optional<Match>> matches(graph.size());
  bool any = false;
  for (const Node& node : graph.nodes()) {
    matches[node.id] = MatchBox(graph, node, users);
    any |= matches[node.id].has_value();
  }
  if (!any) return false;
  // Each match is replaced at its own position; the patch gradient and its sum lose their last
  // user.
  KILN_RETURN_IF_ERROR(RebuildGraph(
      graph, [&](ir::GraphBuilder& b, const Node& node, std::span<const NodeId> remap) {
        const std::optional<Match>& m = matches[node.id];
        return m ? Convolve(b, *m, remap[m->gradient], remap[m->weight]) : ir::kNoNode;
      }));
  return true;
}

}  // namespace kiln::passes
