// 2-D convolution and pooling on NCHW tensors, as composites over im2col (ir/ops/window_ops.cc):
//
//   conv2d      im2col over the kernel taps that read the input somewhere -> GEMM against the
//               weight (those taps) as [OC, KH*KW*C] (or [OC, C*KH*KW] where the weight
//               outweighs the patches; bias in the GEMM epilogue) -> NHWC result viewed as NCHW
//               by a transpose that fuses into its consumer.
//               Groups run one GEMM per group on channel slices, joined by concat. A map
//               smaller than the kernel is a GEMM per output position against the taps it
//               reaches (DenseConvolution).
//   max_pool2d  im2col with -FLT_MAX outside -> argmax over the window (the first maximum, as
//               PyTorch) -> the picked value; the gradient flows to that element only.
//   avg_pool2d  im2col -> window sum / count (the kernel area with count_include_pad).
//
// Autodiff then needs no rules of its own here: col2im is im2col's gradient.
#include <algorithm>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "ir/graph_builder.h"
#include "ir/op_registry.h"
#include "ir/ops/op_helpers.h"
#include "ir/ops/window_geometry.h"
#include "ir/windowed_operand.h"

namespace kiln::ir {
namespace {

absl::Status RequireImages(const TensorType& x, const char* what) {
  if (x.dtype == DType::kF32 && x.rank() == 4) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrFormat("%s must be f32[N,C,H,W], got %s", what, x.ToString()));
}

// The im2col attrs of a conv/pool node (kernel from the weight for conv2d).
Attrs WindowAttrs(const Attrs& attrs, std::pair<int64_t, int64_t> kernel, double fill) {
  Attrs out;
  out.Set("kernel", std::vector<int64_t>{kernel.first, kernel.second});
  for (const char* key : {"stride", "padding", "dilation"}) {
    if (attrs.Has(key)) out.Set(key, attrs.GetInts(key));
  }
  out.Set("fill", fill);
  return out;
}

absl::StatusOr<TensorType> Conv2dType(std::span<const TensorType> ops, const Attrs& attrs) {
  if (ops.size() != 2 && ops.size() != 3) {
    return absl::InvalidArgumentError("expects (input, weight) or (input, weight, bias)");
  }
  const TensorType& x = ops[0];
  const TensorType& w = ops[1];
  if (auto s = RequireImages(x, "the input"); !s.ok()) return s;
  if (w.dtype != DType::kF32 || w.rank() != 4) {
    return absl::InvalidArgumentError(
        "the weight must be f32[out_channels, in_channels/groups, KH, KW], got " + w.ToString());
  }
  int64_t groups = attrs.GetInt("groups", 1);
  if (groups <= 0 || w.shape[0] % groups != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "groups %d must be positive and divide the weight's %d output channels", groups,
        w.shape[0]));
  }
  if (x.shape[1] != w.shape[1] * groups) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "input %s has %d channels but weight %s expects %d (in_channels/groups = %d, groups %d)",
        x.ToString(), x.shape[1], w.ToString(), w.shape[1] * groups, w.shape[1], groups));
  }
  if (ops.size() == 3 && (ops[2].dtype != DType::kF32 || ops[2].shape != Shape{w.shape[0]})) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "bias %s does not match weight %s (expected f32[%d])", ops[2].ToString(), w.ToString(),
        w.shape[0]));
  }
  Attrs window = WindowAttrs(attrs, {w.shape[2], w.shape[3]}, 0.0);
  auto g = WindowGeometry::FromAttrs(window, x.shape[2], x.shape[3]);
  if (!g.ok()) {
    return absl::InvalidArgumentError(absl::StrFormat("input %s, weight %s: %s", x.ToString(),
                                                      w.ToString(), g.status().message()));
  }
  return TensorType{DType::kF32, {x.shape[0], w.shape[0], g->out_h, g->out_w}};
}

// Whether a convolution is cheaper as DenseConvolution than as im2col + GEMM: only where the map
// has fewer positions than the (trimmed) kernel has taps (ResNet-18's layer3 on 32x32 images: 2x2
// maps under 3x3 kernels, where 5 of every 9 patch entries are padding), and then where the FLOPs
// it spares outweigh its dense weights, together OH*OW*H*W/(KH*KW) times the weight and through
// memory about five times a step (built, read forward and for the input gradient, their
// gradients written and summed back), against the patches (about four passes). Bytes are weighed
// at 16 FLOPs, two AVX-512 cores' FMA peak over their memory bandwidth; machines with slower
// FMAs favour the dense form more, so this errs towards im2col. ResNet-18's layer3 at batch 64:
// 739 vs 1057 MFLOP-equivalents, dense; at batch 1, im2col.
bool DenseIsCheaper(const WindowGeometry& g, int64_t n, int64_t c, int64_t oc) {
  if (g.dilation_h != 1 || g.dilation_w != 1) return false;
  const double taps = static_cast<double>(g.kernel_h * g.kernel_w);
  const double positions = static_cast<double>(g.in_h * g.in_w);
  if (positions >= taps) return false;
  constexpr double kFlopsPerByte = 16.0, kPatchPasses = 4.0, kDensePasses = 5.0;
  constexpr double kFloat = sizeof(float);
  const double out_positions = static_cast<double>(g.out_h * g.out_w);
  // FLOPs of the three GEMMs (forward, input and weight gradient) per tap they multiply.
  const double per_tap = 3.0 * 2.0 * n * out_positions * c * oc;
  const double patch_bytes = kFloat * n * out_positions * taps * c;
  const double dense_bytes = kFloat * out_positions * positions * c * oc;
  const double im2col = per_tap * taps + kFlopsPerByte * kPatchPasses * patch_bytes;
  const double dense = per_tap * positions + kFlopsPerByte * kDensePasses * dense_bytes;
  return dense < im2col;
}

// The convolution of such a map as dense GEMMs, one per output position: y[:, (oh, ow), :] =
// x[N, H*W*C] @ T(oh, ow)^T, where T(oh, ow) [OC, H*W*C] holds, at input position (ih, iw), the
// weight tap that lands there from (oh, ow) (zero where none does), channels innermost as
// im2col's weight. H*W/(KH*KW) of im2col's FLOPs forward and backward, no patches and no
// col2im; the T are slices of the zero-padded weight, so their gradients return to the weight's
// taps through autodiff. Returns the NHWC result as [N*OH*OW, OC].
NodeId DenseConvolution(GraphBuilder& b, NodeId x, NodeId w, const WindowGeometry& g) {
  const Shape w_shape = b.type(w).shape;  // [OC, C, KH, KW]
  const int64_t n = b.type(x).shape[0], oc = w_shape[0], c = w_shape[1];
  const int64_t h = g.in_h, wd = g.in_w;
  // The weight as [OC, KH, KW, C], channels innermost like the rows of x, so each block below is
  // a run of whole rows and its gradient (zero-padded back to the kernel) vectorizes over C.
  NodeId taps_last = b.Transpose(w, {0, 2, 3, 1});
  // Tap ih - oh*stride + pad for every pair of positions, in the weight padded by lo/hi zeros.
  const int64_t lo_h = std::max<int64_t>(0, (g.out_h - 1) * g.stride_h - g.pad_h);
  const int64_t lo_w = std::max<int64_t>(0, (g.out_w - 1) * g.stride_w - g.pad_w);
  const int64_t hi_h = std::max<int64_t>(0, h + g.pad_h - g.kernel_h);
  const int64_t hi_w = std::max<int64_t>(0, wd + g.pad_w - g.kernel_w);
  NodeId padded = taps_last;
  if (lo_h + hi_h + lo_w + hi_w > 0) {
    padded = b.Op("pad", {taps_last},
                  {{"lo", std::vector<int64_t>{0, lo_h, lo_w, 0}},
                   {"shape", std::vector<int64_t>{oc, lo_h + g.kernel_h + hi_h,
                                                  lo_w + g.kernel_w + hi_w, c}}});
  }
  std::vector<NodeId> blocks;
  for (int64_t oh = 0; oh < g.out_h; ++oh) {
    for (int64_t ow = 0; ow < g.out_w; ++ow) {
      const int64_t top = lo_h + g.pad_h - oh * g.stride_h;
      const int64_t left = lo_w + g.pad_w - ow * g.stride_w;
      NodeId block = b.Op("slice", {padded},
                          {{"starts", std::vector<int64_t>{0, top, left, 0}},
                           {"stops", std::vector<int64_t>{oc, top + h, left + wd, c}},
                           {"steps", std::vector<int64_t>{1, 1, 1, 1}}});
      blocks.push_back(b.Reshape(block, {oc, h * wd * c}));
    }
  }
  // One GEMM per output position, joined on their [N, OC] results: concatenating the blocks
  // instead would copy the whole dense weight every step and slice its gradient apart again.
  NodeId rows = b.Reshape(b.Transpose(x, {0, 2, 3, 1}), {n, h * wd * c});
  std::vector<NodeId> columns;
  for (NodeId block : blocks) columns.push_back(b.MatMul(rows, block, false, /*transpose_b=*/true));
  NodeId y = columns.size() == 1 ? columns[0] : b.Op("concat", columns, {{"dim", int64_t{1}}});
  return b.Reshape(y, {n * g.out_h * g.out_w, oc});
}

// x [N,C,H,W] zero-padded by pad_h rows and pad_w columns on each side, stored channels last
// ([N,H',W',C], viewed as NCHW). im2col of it needs no padding, so it reads no fill and its
// patches split into a row part and a column part (ir/windowed_operand.h): the GEMMs then read
// them from this copy at computed addresses, and the patches (9x the input for a 3x3 kernel) are
// never stored. Only for channel counts whose patch rows come in runs of whole vectors
// (kWindowedColumnRun): elsewhere (a first convolution's single channel) the patches are stored
// anyway, and padding inside im2col spares this copy. x is usually the previous GEMM's NHWC
// result viewed as NCHW, so the copy reads it in order.
NodeId PaddedChannelsLast(GraphBuilder& b, NodeId x, int64_t pad_h, int64_t pad_w) {
  const Shape s = b.type(x).shape;
  NodeId padded = b.Op("pad", {b.Transpose(x, {0, 2, 3, 1})},
                       {{"lo", std::vector<int64_t>{0, pad_h, pad_w, 0}},
                        {"shape", std::vector<int64_t>{s[0], s[2] + 2 * pad_h, s[3] + 2 * pad_w,
                                                       s[1]}}});
  return b.Transpose(padded, {0, 3, 1, 2});
}

// [N*OH*OW, OC] (NHWC) plus the bias, viewed as the NCHW result.
NodeId ToNchwOutput(GraphBuilder& b, const Node& node, NodeId y, int64_t n, const Shape& out) {
  if (node.operands.size() == 3) y = b.Add(y, node.operands[2]);
  return b.Transpose(b.Reshape(y, {n, out[2], out[3], out[1]}), {0, 3, 1, 2});
}

NodeId ExpandConv2d(GraphBuilder& b, const Node& node, bool) {
  NodeId x = node.operands[0], w = node.operands[1];
  const Shape x_shape = b.type(x).shape, w_shape = b.type(w).shape;
  const Shape out = node.type.shape;  // [N, OC, OH, OW]
  const int64_t groups = node.attrs.GetInt("groups", 1);
  const int64_t n = x_shape[0], oc = w_shape[0], cg = w_shape[1];
  Attrs window = WindowAttrs(node.attrs, {w_shape[2], w_shape[3]}, 0.0);
  // Taps that read only padding contribute nothing: the weight loses them, and so does the GEMM
  // (ResNet-18 on 32x32 images: layer4's 3x3 convolutions on a 1x1 map become 1x1, 9x fewer
  // FLOPs forward and backward; the trimmed taps' gradient is the slice's zero padding).
  const WindowGeometry::Trimmed live =
      WindowGeometry::FromAttrs(window, x_shape[2], x_shape[3])->WithoutDeadTaps();
  const int64_t kh = live.geometry.kernel_h, kw = live.geometry.kernel_w;
  if (kh != w_shape[2] || kw != w_shape[3]) {
    w = b.Op("slice", {w},
             {{"starts", std::vector<int64_t>{0, 0, live.first_h, live.first_w}},
              {"stops", std::vector<int64_t>{oc, cg, live.first_h + kh, live.first_w + kw}},
              {"steps", std::vector<int64_t>{1, 1, 1, 1}}});
    window.Set("kernel", std::vector<int64_t>{kh, kw});
    window.Set("padding", std::vector<int64_t>{live.geometry.pad_h, live.geometry.pad_w});
  }
  if (groups == 1 && DenseIsCheaper(live.geometry, n, cg, oc)) {
    return ToNchwOutput(b, node, DenseConvolution(b, x, w, live.geometry), n, out);
  }
  const bool windowable = cg % kWindowedColumnRun == 0;  // Patch rows in runs of whole vectors.
  if (windowable && (live.geometry.pad_h > 0 || live.geometry.pad_w > 0)) {
    x = PaddedChannelsLast(b, x, live.geometry.pad_h, live.geometry.pad_w);
    window.Set("padding", std::vector<int64_t>{0, 0});
  }
  const int64_t rows = n * out[2] * out[3], patch = cg * kh * kw, ocg = oc / groups;
  // Patches with the channel innermost (ir/ops/window_ops.cc says why) need the weight in their
  // order, [OC, KH, KW, C/groups]: a copy of the weight each step, and of its gradient back. That
  // pays while the patches outweigh the weight, rows >= OC/groups; past that (ResNet-18's layer4:
  // 64 rows, 512 channels) the patches stay channel-major and the weight a free reshape
  // (layer4's eight weight transposes took 3.4 ms of kernels alone, far more than its patches).
  const bool channel_major = rows < ocg;
  if (channel_major) window.Set("channel_major", int64_t{1});
  NodeId wm = channel_major ? b.Reshape(w, {oc, patch})
                            : b.Reshape(b.Transpose(w, {0, 2, 3, 1}), {oc, patch});
  std::vector<NodeId> parts;
  for (int64_t group = 0; group < groups; ++group) {
    NodeId xg = x, wg = wm;
    if (groups > 1) {
      Shape stops = b.type(x).shape;  // Padded, where padding was.
      stops[1] = (group + 1) * cg;
      xg = b.Op("slice", {x},
                {{"starts", std::vector<int64_t>{0, group * cg, 0, 0}},
                 {"stops", stops},
                 {"steps", std::vector<int64_t>{1, 1, 1, 1}}});
      wg = b.Op("slice", {wm},
                {{"starts", std::vector<int64_t>{group * ocg, 0}},
                 {"stops", std::vector<int64_t>{(group + 1) * ocg, patch}},
                 {"steps", std::vector<int64_t>{1, 1}}});
    }
    NodeId cols = b.Reshape(b.Op("im2col", {xg}, window), {rows, patch});
    parts.push_back(b.MatMul(cols, wg, false, /*transpose_b=*/true));  // [rows, OC/groups]
  }
  NodeId y = parts.size() == 1 ? parts[0] : b.Op("concat", parts, {{"dim", int64_t{1}}});
  return ToNchwOutput(b, node, y, n, out);
}

// Pooling, with PyTorch's attr names: kernel_size (required), stride (default: the kernel),
// padding (at most half the kernel, as PyTorch requires), dilation.
absl::StatusOr<WindowGeometry> PoolGeometry(const TensorType& x, const Attrs& attrs) {
  if (auto s = RequireImages(x, "the input"); !s.ok()) return s;
  Attrs window = attrs;
  window.Set("kernel", attrs.GetInts("kernel_size"));
  if (!window.Has("stride") || window.GetInts("stride").empty()) {
    window.Set("stride", attrs.GetInts("kernel_size"));
  }
  auto g = WindowGeometry::FromAttrs(window, x.shape[2], x.shape[3]);
  if (!g.ok()) return g.status();
  if (2 * g->pad_h > g->kernel_h || 2 * g->pad_w > g->kernel_w) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "padding %dx%d must be at most half the kernel %dx%d", g->pad_h, g->pad_w, g->kernel_h,
        g->kernel_w));
  }
  if (attrs.GetInt("ceil_mode", 0) != 0) {
    return absl::UnimplementedError("ceil_mode=true is not supported");
  }
  return g;
}

absl::StatusOr<TensorType> PoolType(std::span<const TensorType> ops, const Attrs& attrs) {
  auto g = PoolGeometry(ops[0], attrs);
  if (!g.ok()) return g.status();
  return TensorType{DType::kF32, {ops[0].shape[0], ops[0].shape[1], g->out_h, g->out_w}};
}

Attrs PoolWindowAttrs(const GraphBuilder& b, const Node& node, double fill) {
  WindowGeometry g = *PoolGeometry(b.type(node.operands[0]), node.attrs);
  Attrs attrs;
  attrs.Set("kernel", std::vector<int64_t>{g.kernel_h, g.kernel_w});
  attrs.Set("stride", std::vector<int64_t>{g.stride_h, g.stride_w});
  attrs.Set("padding", std::vector<int64_t>{g.pad_h, g.pad_w});
  attrs.Set("dilation", std::vector<int64_t>{g.dilation_h, g.dilation_w});
  attrs.Set("fill", fill);
  return attrs;
}

// The windows [N, OH, OW, KH, KW, C]; pooling reduces dims 3 and 4. They stay 6-D, not a view
// as [N, OH, OW, KH*KW, C]: the gradient then reaches col2im with no reshape in between, so
// col2im computes it (the mask times the output's gradient) at its taps rather than reading a
// buffer of every window's gradient.
constexpr int64_t kKernelRowDim = 3, kKernelColDim = 4;
NodeId Windows(GraphBuilder& b, const Node& node, double fill) {
  return b.Op("im2col", {node.operands[0]}, PoolWindowAttrs(b, node, fill));
}

NodeId ToNchw(GraphBuilder& b, NodeId nhwc) { return b.Transpose(nhwc, {0, 3, 1, 2}); }

NodeId ExpandMaxPool2d(GraphBuilder& b, const Node& node, bool) {
  // Padding reads the lowest float rather than -inf: the pick below multiplies the window by a
  // one-hot mask, and -inf * 0 would be NaN. A window is never all padding (padding <= k/2).
  NodeId windows = Windows(b, node, -std::numeric_limits<float>::max());
  Shape s = b.type(windows).shape;
  // Ties: the first in row-major window order, as PyTorch's max_pool2d. The argmax reads the 6-D
  // windows (its index is kh * KW + kw), not a flattened view: with no view between them, fusion
  // recomputes the windows in the argmax and in the pick below (im2col is cheap) instead of
  // storing KH*KW/(stride^2) times the input first.
  NodeId first_max = b.Op("argmax", {windows},
                          {{"dims", std::vector<int64_t>{kKernelRowDim, kKernelColDim}},
                           {"keepdim", int64_t{0}}});  // [N, OH, OW, C]
  NodeId column = b.Cast(b.Reshape(first_max, {s[0], s[1], s[2], 1, 1, s[5]}), DType::kF32);
  // Each window element's index in that order, kh * KW + kw (exact in f32: a window is small).
  NodeId positions =
      b.Add(b.Mul(b.Iota(s, kKernelRowDim, DType::kF32), b.Scalar(static_cast<double>(s[4]))),
            b.Iota(s, kKernelColDim, DType::kF32));
  NodeId mask = b.Equal(column, positions);
  return ToNchw(b, b.ReduceSum(b.Mul(windows, mask), {kKernelRowDim, kKernelColDim}));
}

NodeId ExpandAvgPool2d(GraphBuilder& b, const Node& node, bool) {
  NodeId windows = Windows(b, node, 0.0);
  Shape s = b.type(windows).shape;
  NodeId sum = b.ReduceSum(windows, {kKernelRowDim, kKernelColDim});
  if (node.attrs.GetInt("count_include_pad", 1) != 0) {
    return ToNchw(b, b.Div(sum, b.Scalar(static_cast<double>(s[3] * s[4]))));
  }
  // Count only the window elements inside the input: im2col of ones.
  Attrs attrs = PoolWindowAttrs(b, node, 0.0);
  TensorType one_image{DType::kF32, b.type(node.operands[0]).shape};
  one_image.shape[0] = 1;
  one_image.shape[1] = 1;
  NodeId ones = b.Constant(1.0, one_image);
  NodeId patches = b.Op("im2col", {ones}, attrs);
  NodeId counts = b.ReduceSum(patches, {kKernelRowDim, kKernelColDim});  // [1, OH, OW, 1]
  return ToNchw(b, b.Div(sum, counts));
}

}  // namespace

void RegisterConvOps(OpRegistry& r) {
  r.Add(Composite("conv2d",
                  "2-D convolution of f32[N,C,H,W] with weight [OC, C/groups, KH, KW] and "
                  "optional bias [OC]; attrs stride, padding, dilation, groups.",
                  -1, Conv2dType, ExpandConv2d));
  r.Add(Composite("max_pool2d",
                  "Max over windows of f32[N,C,H,W]; attrs kernel_size, stride (default the "
                  "kernel), padding, dilation. The gradient goes to the first maximum.",
                  1, PoolType, ExpandMaxPool2d));
  r.Add(Composite("avg_pool2d",
                  "Mean over windows of f32[N,C,H,W]; attrs kernel_size, stride (default the "
                  "kernel), padding, count_include_pad (default 1).",
                  1, PoolType, ExpandAvgPool2d));
}

}  // namespace kiln::ir
