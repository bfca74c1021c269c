// Window ops: each output element reads operand elements at coordinates it computes (offsets,
// strides, dilation, padding), with a fill value where a read falls outside the operand.
//
//   im2col / col2im   the patches of a 2-D convolution or pooling window, and their adjoint
//   slice / pad       strided sub-tensors and their adjoint (a value-filled embedding)
//   concat            operands joined along one dim
//
// conv2d, max_pool2d and avg_pool2d (ir/ops/conv_ops.cc) are built from im2col, so convolution
// runs through the GEMM and pooling through the reductions.
#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "ir/graph_builder.h"
#include "ir/op_registry.h"
#include "ir/ops/op_helpers.h"
#include "ir/ops/window_geometry.h"

namespace kiln::ir {
namespace {

using Grads = std::vector<std::optional<NodeId>>;
using kernel::ScalarBuilder;
using kernel::Value;

// lo <= v < hi for an i64 value and constants.
Value InRange(ScalarBuilder& b, Value v, int64_t lo, int64_t hi) {
  return b.And(b.CmpGE(v, b.ConstI64(lo)), b.CmpGT(b.ConstI64(hi), v));
}

Value PlusConst(ScalarBuilder& b, Value v, int64_t c) {
  return c == 0 ? v : b.IAdd(v, b.ConstI64(c));
}

Value TimesConst(ScalarBuilder& b, Value v, int64_t c) {
  return c == 1 ? v : b.IMul(v, b.ConstI64(c));
}

// The source coordinate t / stride of a strided embedding, and whether t lands on the grid
// inside [0, count): t >= 0, t % stride == 0 and t / stride < count.
std::pair<Value, Value> Unstride(ScalarBuilder& b, Value t, int64_t stride, int64_t count) {
  if (stride == 1) return {t, InRange(b, t, 0, count)};
  Value q = b.IDiv(t, stride);
  Value ok = b.And(b.CmpGE(t, b.ConstI64(0)), b.CmpEQ(b.IRem(t, stride), b.ConstI64(0)));
  return {q, b.And(ok, b.CmpGT(b.ConstI64(count), q))};
}

// Operand `operand` at `at`, or `fill` where `inside` is false. WindowInputs::load would redirect
// every coordinate in range there; this redirects only the dims in `may_leave` (those that can
// leave the operand: an image's spatial ones), so the batch and channel stay plain loop
// coordinates and a loop over the channel innermost reads contiguous memory and vectorizes.
Value LoadOrFill(ScalarBuilder& b, const WindowInputs& in, int operand, std::vector<Value> at,
                 const std::vector<int>& may_leave, Value inside, double fill) {
  for (int d : may_leave) at[d] = b.Select(inside, at[d], b.ConstI64(0));
  const Value filler = in.operand_types[operand].dtype == DType::kI64
                           ? b.ConstI64(static_cast<int64_t>(fill))
                           : b.ConstF32(fill);
  return b.Select(inside, in.load(operand, at, std::nullopt, 0.0), filler);
}

// ---------------------------------------------------------------------------------------------
// im2col: x [N,C,H,W] -> patches [N,OH,OW,KH,KW,C] with
//   patches[n,oh,ow,kh,kw,c] = x[n, c, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw]  (`fill` outside),
// or with attr channel_major=1 patches [N,OH,OW,C,KH,KW]. The patch dims come last, so a reshape
// to [N*OH*OW, KH*KW*C] (or [.., C*KH*KW]) is the GEMM's A operand. The channel is innermost by
// default because a convolution's input is usually the previous GEMM's [N*H*W, C] result viewed
// as NCHW: with c innermost each patch row copies runs of C contiguous floats (fashion_cnn's
// conv2 im2col 699 -> 458 us and its col2im 699 -> 142 us against the [C,KH,KW] order,
// measured). conv2d picks channel_major where the weight is larger than the patches (conv_ops.cc).

// Where a patch tensor keeps the kernel row, kernel column and channel (dims 3..5).
struct PatchLayout {
  int kh, kw, c;
  explicit PatchLayout(const Attrs& attrs)
      : PatchLayout(attrs.GetInt("channel_major", 0) != 0) {}
  explicit PatchLayout(bool channel_major)
      : kh(channel_major ? 4 : 3), kw(channel_major ? 5 : 4), c(channel_major ? 3 : 5) {}

  const char* Order() const { return c == 5 ? "[N,OH,OW,KH,KW,C]" : "[N,OH,OW,C,KH,KW]"; }

  Shape PatchShape(int64_t n, const WindowGeometry& g, int64_t channels) const {
    Shape s = {n, g.out_h, g.out_w, 0, 0, 0};
    s[kh] = g.kernel_h;
    s[kw] = g.kernel_w;
    s[c] = channels;
    return s;
  }
};

absl::StatusOr<TensorType> Im2ColType(std::span<const TensorType> ops, const Attrs& attrs) {
  const TensorType& x = ops[0];
  if (x.dtype != DType::kF32 || x.rank() != 4) {
    return absl::InvalidArgumentError("expects an f32[N,C,H,W] input, got " + x.ToString());
  }
  auto g = WindowGeometry::FromAttrs(attrs, x.shape[2], x.shape[3]);
  if (!g.ok()) return g.status();
  return TensorType{DType::kF32, PatchLayout(attrs).PatchShape(x.shape[0], *g, x.shape[1])};
}

Value EmitIm2Col(ScalarBuilder& b, const WindowInputs& in) {
  const Shape& x = in.operand_types[0].shape;
  WindowGeometry g = *WindowGeometry::FromAttrs(in.node.attrs, x[2], x[3]);
  const PatchLayout layout(in.node.attrs);
  Value n = in.coords[0], oh = in.coords[1], ow = in.coords[2];
  Value kh = in.coords[layout.kh], kw = in.coords[layout.kw], c = in.coords[layout.c];
  Value ih = b.IAdd(PlusConst(b, TimesConst(b, oh, g.stride_h), -g.pad_h),
                    TimesConst(b, kh, g.dilation_h));
  Value iw = b.IAdd(PlusConst(b, TimesConst(b, ow, g.stride_w), -g.pad_w),
                    TimesConst(b, kw, g.dilation_w));
  if (g.pad_h == 0 && g.pad_w == 0) {
    Value at[] = {n, c, ih, iw};
    return in.load(0, at, std::nullopt, 0.0);
  }
  Value inside = b.And(InRange(b, ih, 0, g.in_h), InRange(b, iw, 0, g.in_w));
  return LoadOrFill(b, in, 0, {n, c, ih, iw}, {2, 3}, inside, in.node.attrs.GetFloat("fill", 0.0));
}

// Without padding every read lands inside the input, and the coordinates it reads split after
// (n, oh, ow): (n, 0, oh*sh, ow*sw) from the output position plus (0, c, kh*dh, kw*dw) from the
// tap. Padding reads the fill, which no buffer holds: conv2d pads its input explicitly instead.
std::optional<SplitReads> Im2ColSplitReads(const Node& node, std::span<const TensorType> ops,
                                           int lead) {
  const Shape& x = ops[0].shape;
  auto g = WindowGeometry::FromAttrs(node.attrs, x[2], x[3]);
  if (!g.ok() || g->pad_h != 0 || g->pad_w != 0 || lead != 3) return std::nullopt;
  const PatchLayout layout(node.attrs);
  SplitReads split;
  split.from_lead = [g = *g](std::span<const int64_t> at) -> std::vector<int64_t> {
    return {at[0], 0, at[1] * g.stride_h, at[2] * g.stride_w};
  };
  split.from_trail = [g = *g, layout](std::span<const int64_t> at) -> std::vector<int64_t> {
    // `at` holds dims 3..5 of the patches.
    return {0, at[layout.c - 3], at[layout.kh - 3] * g.dilation_h,
            at[layout.kw - 3] * g.dilation_w};
  };
  return split;
}

// col2im, im2col's adjoint: patches [N,OH,OW,KH,KW,C] (or [N,OH,OW,C,KH,KW] with channel_major)
// -> [N,C,H,W], each input pixel summing the patch entries that read it. For pixel h and kernel
// row kh the patch row is oh = (h + ph - kh*dh) / sh when that divides exactly and lands in
// [0, OH). With attr channels_last=1 the result is [N,H,W,C] instead: im2col's gradient asks for
// it (then transposes the view back to NCHW) when the patches keep the channel innermost, so
// col2im reads and writes runs of channels, and the gradient lands in the layout of the GEMM
// outputs it meets next (batch norm's and ReLU's backward read both; ResNet-18's).
bool ChannelsLast(const Attrs& attrs) { return attrs.GetInt("channels_last", 0) != 0; }

absl::StatusOr<TensorType> Col2ImType(std::span<const TensorType> ops, const Attrs& attrs) {
  const TensorType& p = ops[0];
  std::vector<int64_t> size = attrs.GetInts("input_size");
  const PatchLayout layout(attrs);
  if (p.dtype != DType::kF32 || p.rank() != 6 || size.size() != 2) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "expects f32 %s patches and input_size [H, W], got %s", layout.Order(), p.ToString()));
  }
  auto g = WindowGeometry::FromAttrs(attrs, size[0], size[1]);
  if (!g.ok()) return g.status();
  const int64_t channels = p.shape[layout.c];
  Shape expected = layout.PatchShape(p.shape[0], *g, channels);
  if (p.shape != expected) {
    return absl::InvalidArgumentError(
        absl::StrFormat("patches %s do not match the window (expected %s)", p.ToString(),
                        ShapeToString(expected)));
  }
  if (ChannelsLast(attrs)) return TensorType{DType::kF32, {p.shape[0], size[0], size[1], channels}};
  return TensorType{DType::kF32, {p.shape[0], channels, size[0], size[1]}};
}

// One patch entry that may hold input position x along a spatial dim: patch index `out`, kernel
// index `k`, and whether the pair is real.
struct PatchTap {
  Value out, k, valid;
};

// The taps of input position x (i64) along one dim of the window.
std::vector<PatchTap> TapsOf(ScalarBuilder& b, Value x, int64_t kernel, int64_t stride,
                             int64_t pad, int64_t dilation, int64_t out_size) {
  if (stride > 1 && dilation == 1) {
    // x reads patch `out` at kernel index k when x + pad = out * stride + k. With t = x + pad
    // (never negative) = q * stride + r, those pairs are k = r + j * stride, out = q - j: one
    // division per pixel and ceil(kernel / stride) taps, not kernel taps that each test
    // divisibility (a 3x3/2 window: 4 taps in 2-D instead of 9).
    Value t = PlusConst(b, x, pad);
    Value q = b.IDiv(t, stride), r = b.IRem(t, stride);
    std::vector<PatchTap> taps;
    for (int64_t j = 0; j * stride < kernel; ++j) {
      Value k = PlusConst(b, r, j * stride), out = PlusConst(b, q, -j);
      Value valid = b.CmpGT(b.ConstI64(out_size), out);
      if (j > 0) valid = b.And(valid, b.CmpGE(out, b.ConstI64(0)));
      // r < stride, so k can pass the kernel's end only when (j + 1) * stride > kernel.
      if ((j + 1) * stride > kernel) valid = b.And(valid, b.CmpGT(b.ConstI64(kernel), k));
      taps.push_back({out, k, valid});
    }
    return taps;
  }
  std::vector<PatchTap> taps;
  for (int64_t k = 0; k < kernel; ++k) {
    auto [out, valid] = Unstride(b, PlusConst(b, x, pad - k * dilation), stride, out_size);
    taps.push_back({out, b.ConstI64(k), valid});
  }
  return taps;
}

Value EmitCol2Im(ScalarBuilder& b, const WindowInputs& in) {
  std::vector<int64_t> size = in.node.attrs.GetInts("input_size");
  WindowGeometry g = *WindowGeometry::FromAttrs(in.node.attrs, size[0], size[1]);
  const bool channels_last = ChannelsLast(in.node.attrs);
  Value n = in.coords[0], c = in.coords[channels_last ? 3 : 1];
  Value h = in.coords[channels_last ? 1 : 2], w = in.coords[channels_last ? 2 : 3];
  std::vector<PatchTap> rows =
      TapsOf(b, h, g.kernel_h, g.stride_h, g.pad_h, g.dilation_h, g.out_h);
  std::vector<PatchTap> cols =
      TapsOf(b, w, g.kernel_w, g.stride_w, g.pad_w, g.dilation_w, g.out_w);
  const PatchLayout layout(in.node.attrs);
  Value sum = b.ConstF32(0.0);
  for (const PatchTap& row : rows) {
    for (const PatchTap& col : cols) {
      std::vector<Value> at = {n, row.out, col.out, c, c, c};  // c stays at layout.c.
      at[layout.kh] = row.k;
      at[layout.kw] = col.k;
      sum = b.Add(sum, LoadOrFill(b, in, 0, std::move(at), {1, 2, layout.kh, layout.kw},
                                  b.And(row.valid, col.valid), 0.0));
    }
  }
  return sum;
}

const OpDef kIm2Col = {
    .name = "im2col",
    .summary = "Patches [N,OH,OW,KH,KW,C] of an [N,C,H,W] input; attrs kernel, stride, padding, "
               "dilation, fill (the value read outside the input, default 0), channel_major "
               "(1: patches [N,OH,OW,C,KH,KW]).",
    .num_operands = 1,
    // Cheap: an element is one load (or the fill) at computed coordinates, so a consumer in
    // another kernel recomputes it rather than reading stored patches (max_pool2d's argmax and
    // pick both read the windows; storing them cost more than the two kernels that read them).
    .traits = kWindow | kCheap,
    .infer_type = Im2ColType,
    .gradient = [](GradContext& g) -> Grads {
      Shape in = g.b.type(g.operand(0)).shape;
      Attrs attrs = g.node.attrs;
      attrs.Set("input_size", std::vector<int64_t>{in[2], in[3]});
      attrs.Set("fill", 0.0);
      if (PatchLayout(attrs).c != 5) return {g.b.Op("col2im", {g.output_grad}, attrs)};
      attrs.Set("channels_last", int64_t{1});
      return {g.b.Transpose(g.b.Op("col2im", {g.output_grad}, attrs), {0, 3, 1, 2})};
    },
    .emit_window = EmitIm2Col,
    .split_reads = Im2ColSplitReads,
};

const OpDef kCol2Im = {
    .name = "col2im",
    .summary = "Adjoint of im2col: sums patches [N,OH,OW,KH,KW,C] back into [N,C,H,W]; attrs "
               "as im2col plus input_size [H, W] and channels_last (1: the result is [N,H,W,C]).",
    .num_operands = 1,
    .traits = kWindow,
    .infer_type = Col2ImType,
    .gradient = [](GradContext& g) -> Grads {
      Attrs attrs = g.node.attrs;
      attrs.Set("fill", 0.0);
      NodeId grad = g.output_grad;
      if (ChannelsLast(attrs)) {
        attrs.Erase("channels_last");
        grad = g.b.Transpose(grad, {0, 3, 1, 2});
      }
      return {g.b.Op("im2col", {grad}, attrs)};
    },
    .emit_window = EmitCol2Im,
    .patch_sum = [](const Node& node) -> std::optional<PatchSum> {
      std::vector<int64_t> size = node.attrs.GetInts("input_size");
      auto g = WindowGeometry::FromAttrs(node.attrs, size[0], size[1]);
      if (!g.ok()) return std::nullopt;
      return PatchSum{*g, ChannelsLast(node.attrs), PatchLayout(node.attrs).c != 5};
    },
};

// ---------------------------------------------------------------------------------------------
// slice: out[i] = x[start + i * step] per dim; attrs starts, stops, steps (one per dim,
// non-negative starts and stops within the dim, positive steps).

absl::StatusOr<TensorType> SliceType(std::span<const TensorType> ops, const Attrs& attrs) {
  const TensorType& x = ops[0];
  std::vector<int64_t> starts = attrs.GetInts("starts"), stops = attrs.GetInts("stops"),
                       steps = attrs.GetInts("steps");
  if (static_cast<int64_t>(starts.size()) != x.rank() || stops.size() != starts.size() ||
      steps.size() != starts.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "starts %s, stops %s and steps %s need one entry per dim of %s", ShapeToString(starts),
        ShapeToString(stops), ShapeToString(steps), x.ToString()));
  }
  TensorType out{x.dtype, {}};
  for (int64_t d = 0; d < x.rank(); ++d) {
    if (steps[d] <= 0 || starts[d] < 0 || stops[d] > x.shape[d] || starts[d] >= stops[d]) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "dim %d: slice %d:%d:%d is empty or outside %s (start < stop <= %d, step > 0)", d,
          starts[d], stops[d], steps[d], x.ToString(), x.shape[d]));
    }
    out.shape.push_back((stops[d] - starts[d] + steps[d] - 1) / steps[d]);
  }
  return out;
}

// pad: the operand spread into a tensor of `shape`: out[lo + i * stride] = x[i] per dim, `value`
// elsewhere. The adjoint of slice (with value 0) and torch.nn.functional.pad (stride 1).
absl::StatusOr<TensorType> PadType(std::span<const TensorType> ops, const Attrs& attrs) {
  const TensorType& x = ops[0];
  std::vector<int64_t> lo = attrs.GetInts("lo"), stride = attrs.GetInts("stride"),
                       shape = attrs.GetInts("shape");
  if (stride.empty()) stride.assign(x.rank(), 1);
  if (static_cast<int64_t>(lo.size()) != x.rank() || stride.size() != lo.size() ||
      shape.size() != lo.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "lo %s, stride %s and shape %s need one entry per dim of %s", ShapeToString(lo),
        ShapeToString(stride), ShapeToString(shape), x.ToString()));
  }
  for (int64_t d = 0; d < x.rank(); ++d) {
    if (lo[d] < 0 || stride[d] <= 0 || lo[d] + (x.shape[d] - 1) * stride[d] >= shape[d]) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "dim %d: %s placed at offset %d with stride %d does not fit in %s", d, x.ToString(),
          lo[d], stride[d], ShapeToString(shape)));
    }
  }
  return TensorType{x.dtype, shape};
}

std::vector<int64_t> StridesOrOnes(const Attrs& attrs, const std::string& key, size_t rank) {
  std::vector<int64_t> v = attrs.GetInts(key);
  if (v.empty()) v.assign(rank, 1);
  return v;
}

const OpDef kSlice = {
    .name = "slice",
    .summary = "x[start:stop:step] in every dim; attrs starts, stops, steps (one per dim).",
    .num_operands = 1,
    .traits = kWindow,
    .infer_type = SliceType,
    .gradient = [](GradContext& g) -> Grads {
      Attrs attrs = {{"lo", g.node.attrs.GetInts("starts")},
                     {"stride", g.node.attrs.GetInts("steps")},
                     {"shape", g.b.type(g.operand(0)).shape},
                     {"value", 0.0}};
      return {g.b.Op("pad", {g.output_grad}, attrs)};
    },
    .emit_window = [](ScalarBuilder& b, const WindowInputs& in) -> Value {
      std::vector<int64_t> starts = in.node.attrs.GetInts("starts");
      std::vector<int64_t> steps = in.node.attrs.GetInts("steps");
      std::vector<Value> at;
      for (size_t d = 0; d < starts.size(); ++d) {
        at.push_back(PlusConst(b, TimesConst(b, in.coords[d], steps[d]), starts[d]));
      }
      return in.load(0, at, std::nullopt, 0.0);
    },
    .box_start = [](const Node& node) -> std::optional<std::vector<int64_t>> {
      const std::vector<int64_t> steps = node.attrs.GetInts("steps");
      if (std::any_of(steps.begin(), steps.end(), [](int64_t s) { return s != 1; })) {
        return std::nullopt;
      }
      return node.attrs.GetInts("starts");
    },
};

const OpDef kPad = {
    .name = "pad",
    .summary = "Spreads x into `shape`: out[lo + i*stride] = x[i], `value` elsewhere.",
    .num_operands = 1,
    .traits = kWindow,
    .infer_type = PadType,
    .gradient = [](GradContext& g) -> Grads {
      std::vector<int64_t> lo = g.node.attrs.GetInts("lo");
      Shape in = g.b.type(g.operand(0)).shape;
      std::vector<int64_t> stride = StridesOrOnes(g.node.attrs, "stride", in.size());
      std::vector<int64_t> stops(in.size());
      for (size_t d = 0; d < in.size(); ++d) stops[d] = lo[d] + (in[d] - 1) * stride[d] + 1;
      return {g.b.Op("slice", {g.output_grad},
                     {{"starts", lo}, {"stops", stops}, {"steps", stride}})};
    },
    .emit_window = [](ScalarBuilder& b, const WindowInputs& in) -> Value {
      const Shape& x = in.operand_types[0].shape;
      std::vector<int64_t> lo = in.node.attrs.GetInts("lo");
      std::vector<int64_t> stride = StridesOrOnes(in.node.attrs, "stride", x.size());
      std::vector<Value> at;
      std::vector<int> padded;
      std::optional<Value> inside;
      for (size_t d = 0; d < x.size(); ++d) {
        if (lo[d] == 0 && stride[d] == 1 && x[d] == in.node.type.shape[d]) {
          at.push_back(in.coords[d]);  // This dim is not padded.
          continue;
        }
        auto [source, ok] = Unstride(b, PlusConst(b, in.coords[d], -lo[d]), stride[d], x[d]);
        at.push_back(source);
        padded.push_back(static_cast<int>(d));
        inside = inside ? b.And(*inside, ok) : ok;
      }
      const double value = in.node.attrs.GetFloat("value", 0.0);
      if (!inside) return in.load(0, at, std::nullopt, value);
      // Only the padded dims leave the operand: the others stay loop coordinates, so the loop
      // order and the vectorizer see the operand's own strides (a zero-padded weight gradient,
      // ir/ops/conv_ops.cc, unrolls its 3x3 taps instead of loading through index 0 at each).
      return LoadOrFill(b, in, 0, std::move(at), padded, *inside, value);
    },
};

// ---------------------------------------------------------------------------------------------
// concat: operands joined along `dim`; all other dims equal.

absl::StatusOr<TensorType> ConcatType(std::span<const TensorType> ops, const Attrs& attrs) {
  if (ops.empty()) return absl::InvalidArgumentError("needs at least one operand");
  auto dim = NormalizeDim(attrs.GetInt("dim", 0), ops[0].rank());
  if (!dim.ok()) return dim.status();
  TensorType out = ops[0];
  for (size_t i = 1; i < ops.size(); ++i) {
    TensorType same = ops[i];
    if (same.rank() == out.rank()) same.shape[*dim] = out.shape[*dim];
    if (same != out) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "operand %d %s does not match operand 0 %s outside dim %d", i, ops[i].ToString(),
          ops[0].ToString(), *dim));
    }
  }
  out.shape[*dim] = 0;
  for (const TensorType& t : ops) out.shape[*dim] += t.shape[*dim];
  return out;
}

int64_t ConcatDim(const Node& node) {
  int64_t dim = node.attrs.GetInt("dim", 0);
  return dim < 0 ? dim + node.type.rank() : dim;
}

const OpDef kConcat = {
    .name = "concat",
    .summary = "Joins the operands along `dim`.",
    .num_operands = -1,
    .traits = kWindow,
    .infer_type = ConcatType,
    .gradient = [](GradContext& g) -> Grads {
      const int64_t dim = ConcatDim(g.node);
      Shape out = g.node.type.shape;
      Grads grads;
      int64_t offset = 0;
      for (NodeId operand : g.node.operands) {
        int64_t size = g.b.type(operand).shape[dim];
        std::vector<int64_t> starts(out.size(), 0), stops = out, steps(out.size(), 1);
        starts[dim] = offset;
        stops[dim] = offset + size;
        grads.push_back(g.b.Op("slice", {g.output_grad},
                               {{"starts", starts}, {"stops", stops}, {"steps", steps}}));
        offset += size;
      }
      return grads;
    },
    .emit_window = [](ScalarBuilder& b, const WindowInputs& in) -> Value {
      const int64_t dim = ConcatDim(in.node);
      std::vector<Value> at(in.coords.begin(), in.coords.end());
      std::vector<int64_t> offsets;
      int64_t offset = 0;
      for (const TensorType& t : in.operand_types) {
        offsets.push_back(offset);
        offset += t.shape[dim];
      }
      // The last operand covers everything past the others' ranges.
      const int last = static_cast<int>(in.operand_types.size()) - 1;
      at[dim] = PlusConst(b, in.coords[dim], -offsets[last]);
      Value result = in.load(last, at, b.CmpGE(at[dim], b.ConstI64(0)), 0.0);
      for (int k = last - 1; k >= 0; --k) {
        Value inside = b.CmpGT(b.ConstI64(offsets[k + 1]), in.coords[dim]);
        if (k > 0) inside = b.And(inside, b.CmpGE(in.coords[dim], b.ConstI64(offsets[k])));
        at[dim] = PlusConst(b, in.coords[dim], -offsets[k]);
        result = b.Select(inside, in.load(k, at, inside, 0.0), result);
      }
      return result;
    },
    // Each index of the dims before `dim` takes one run from every operand, in order: a flat
    // gradient bucket (dim 0 of 1-D operands) is one run per operand.
    .copy_runs = [](const Node& node,
                    std::span<const TensorType> operands) -> std::optional<std::vector<CopyRun>> {
      const int64_t dim = ConcatDim(node);
      const Shape& out = node.type.shape;
      int64_t outer = 1, inner = 1;
      for (int64_t d = 0; d < dim; ++d) outer *= out[d];
      for (size_t d = dim + 1; d < out.size(); ++d) inner *= out[d];
      constexpr int64_t kMaxRuns = 64;  // Past this, per-run overhead beats the loop's.
      if (outer * static_cast<int64_t>(operands.size()) > kMaxRuns) return std::nullopt;
      std::vector<CopyRun> runs;
      for (int64_t o = 0; o < outer; ++o) {
        int64_t to = o * out[dim] * inner;
        for (size_t k = 0; k < operands.size(); ++k) {
          const int64_t block = operands[k].shape[dim] * inner;
          if (block > 0) runs.push_back({static_cast<int>(k), o * block, to, block});
          to += block;
        }
      }
      return runs;
    },
};

// ---------------------------------------------------------------------------------------------
// adaptive_avg_pool2d: output cell (i, j) of an [OH, OW] grid averages input rows
// [floor(i*H/OH), ceil((i+1)*H/OH)) and the columns likewise, as PyTorch does. Windows differ in
// size by at most one; the formula loops over the largest and masks the rest.

int64_t AdaptiveStart(int64_t i, int64_t in, int64_t out) { return i * in / out; }
int64_t AdaptiveEnd(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

int64_t MaxAdaptiveWindow(int64_t in, int64_t out) {
  int64_t widest = 1;
  for (int64_t i = 0; i < out; ++i) {
    widest = std::max(widest, AdaptiveEnd(i, in, out) - AdaptiveStart(i, in, out));
  }
  return widest;
}

// The most output cells whose windows share one input position.
int64_t MaxAdaptiveCover(int64_t in, int64_t out) {
  int64_t most = 1;
  for (int64_t h = 0; h < in; ++h) {
    int64_t first = h * out / in, last = ((h + 1) * out + in - 1) / in - 1;
    most = std::max(most, last - first + 1);
  }
  return most;
}

struct AdaptiveWindow {
  Value start, end;  // i64, the window [start, end) of output index i.
};

AdaptiveWindow AdaptiveWindowOf(ScalarBuilder& b, Value i, int64_t in, int64_t out) {
  Value start = b.IDiv(TimesConst(b, i, in), out);
  Value end = b.IDiv(PlusConst(b, TimesConst(b, i, in), in + out - 1), out);
  return {start, end};
}

Value WindowArea(ScalarBuilder& b, const AdaptiveWindow& rows, const AdaptiveWindow& cols) {
  Value height = b.IAdd(rows.end, b.IMul(rows.start, b.ConstI64(-1)));
  Value width = b.IAdd(cols.end, b.IMul(cols.start, b.ConstI64(-1)));
  return b.Cast(b.IMul(height, width), kernel::ScalarType::kF32);
}

absl::StatusOr<TensorType> AdaptiveAvgPoolType(std::span<const TensorType> ops,
                                               const Attrs& attrs) {
  const TensorType& x = ops[0];
  std::vector<int64_t> size = attrs.GetInts("output_size");
  if (size.size() == 1) size.push_back(size[0]);
  if (x.dtype != DType::kF32 || x.rank() != 4 || size.size() != 2 || size[0] <= 0 ||
      size[1] <= 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "expects an f32[N,C,H,W] input and a positive output_size [OH, OW], got %s and %s",
        x.ToString(), ShapeToString(attrs.GetInts("output_size"))));
  }
  return TensorType{DType::kF32, {x.shape[0], x.shape[1], size[0], size[1]}};
}

absl::StatusOr<TensorType> AdaptiveAvgPoolGradType(std::span<const TensorType> ops,
                                                   const Attrs& attrs) {
  const TensorType& dy = ops[0];
  std::vector<int64_t> size = attrs.GetInts("input_size");
  if (dy.dtype != DType::kF32 || dy.rank() != 4 || size.size() != 2) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "expects an f32[N,C,OH,OW] gradient and input_size [H, W], got %s", dy.ToString()));
  }
  return TensorType{DType::kF32, {dy.shape[0], dy.shape[1], size[0], size[1]}};
}

const OpDef kAdaptiveAvgPool2d = {
    .name = "adaptive_avg_pool2d",
    .summary = "Averages f32[N,C,H,W] over the windows that split H and W into output_size "
               "[OH, OW] cells (PyTorch's floor/ceil bounds).",
    .num_operands = 1,
    .traits = kWindow,
    .infer_type = AdaptiveAvgPoolType,
    .gradient = [](GradContext& g) -> Grads {
      Shape in = g.b.type(g.operand(0)).shape;
      return {g.b.Op("adaptive_avg_pool2d_grad", {g.output_grad},
                     {{"input_size", std::vector<int64_t>{in[2], in[3]}}})};
    },
    .emit_window = [](ScalarBuilder& b, const WindowInputs& in) -> Value {
      const Shape& x = in.operand_types[0].shape;
      const Shape& y = in.node.type.shape;
      AdaptiveWindow rows = AdaptiveWindowOf(b, in.coords[2], x[2], y[2]);
      AdaptiveWindow cols = AdaptiveWindowOf(b, in.coords[3], x[3], y[3]);
      Value sum = b.ConstF32(0.0);
      for (int64_t dh = 0; dh < MaxAdaptiveWindow(x[2], y[2]); ++dh) {
        Value h = PlusConst(b, rows.start, dh);
        Value row_ok = b.CmpGT(rows.end, h);
        for (int64_t dw = 0; dw < MaxAdaptiveWindow(x[3], y[3]); ++dw) {
          Value w = PlusConst(b, cols.start, dw);
          Value at[] = {in.coords[0], in.coords[1], h, w};
          sum = b.Add(sum, in.load(0, at, b.And(row_ok, b.CmpGT(cols.end, w)), 0.0));
        }
      }
      return b.Div(sum, WindowArea(b, rows, cols));
    },
};

// Its adjoint: input pixel (h, w) collects dy[i, j] / area(i, j) from every cell whose window
// holds it; those cells are i in [floor(h*OH/H), ceil((h+1)*OH/H)), j likewise.
const OpDef kAdaptiveAvgPool2dGrad = {
    .name = "adaptive_avg_pool2d_grad",
    .summary = "Gradient of adaptive_avg_pool2d: spreads f32[N,C,OH,OW] over input_size [H, W].",
    .num_operands = 1,
    .traits = kWindow,
    .infer_type = AdaptiveAvgPoolGradType,
    .gradient = [](GradContext& g) -> Grads {
      Shape out = g.b.type(g.operand(0)).shape;
      return {g.b.Op("adaptive_avg_pool2d", {g.output_grad},
                     {{"output_size", std::vector<int64_t>{out[2], out[3]}}})};
    },
    .emit_window = [](ScalarBuilder& b, const WindowInputs& in) -> Value {
      const Shape& dy = in.operand_types[0].shape;
      const Shape& x = in.node.type.shape;
      Value h = in.coords[2], w = in.coords[3];
      Value first_i = b.IDiv(TimesConst(b, h, dy[2]), x[2]);
      Value first_j = b.IDiv(TimesConst(b, w, dy[3]), x[3]);
      Value sum = b.ConstF32(0.0);
      for (int64_t di = 0; di < MaxAdaptiveCover(x[2], dy[2]); ++di) {
        Value i = PlusConst(b, first_i, di);
        AdaptiveWindow rows = AdaptiveWindowOf(b, i, x[2], dy[2]);
        Value row_ok = b.And(b.CmpGT(b.ConstI64(dy[2]), i),
                             b.And(b.CmpGE(h, rows.start), b.CmpGT(rows.end, h)));
        for (int64_t dj = 0; dj < MaxAdaptiveCover(x[3], dy[3]); ++dj) {
          Value j = PlusConst(b, first_j, dj);
          AdaptiveWindow cols = AdaptiveWindowOf(b, j, x[3], dy[3]);
          Value ok = b.And(row_ok, b.And(b.CmpGT(b.ConstI64(dy[3]), j),
                                         b.And(b.CmpGE(w, cols.start), b.CmpGT(cols.end, w))));
          Value at[] = {in.coords[0], in.coords[1], i, j};
          Value area = b.Select(ok, WindowArea(b, rows, cols), b.ConstF32(1.0));
          sum = b.Add(sum, b.Div(in.load(0, at, ok, 0.0), area));
        }
      }
      return sum;
    },
};

// ---------------------------------------------------------------------------------------------
// gather: out[..., i, ...] = x[..., index[..., i, ...], ...] along `dim` (torch.gather), with
// index the shape of x outside `dim`. An index outside [0, size) reads 0.

absl::StatusOr<TensorType> GatherType(std::span<const TensorType> ops, const Attrs& attrs) {
  const TensorType& x = ops[0];
  const TensorType& index = ops[1];
  auto dim = NormalizeDim(attrs.GetInt("dim", 0), x.rank());
  if (!dim.ok()) return dim.status();
  TensorType same = index;
  if (index.rank() == x.rank()) same.shape[*dim] = x.shape[*dim];
  if (index.dtype != DType::kI64 || same.shape != x.shape) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "index %s must be i64 and match input %s in every dim but %d", index.ToString(),
        x.ToString(), *dim));
  }
  return TensorType{x.dtype, index.shape};
}

// dx[..., k, ...] = sum_i dy[..., i, ...] * (index[..., i, ...] == k): a one-hot product summed
// over the index dim, which fuses into one reduction kernel.
NodeId GatherGradient(GraphBuilder& b, NodeId dy, NodeId index, int64_t dim, int64_t size) {
  Shape s = b.type(index).shape;
  Shape with_axis = s;
  with_axis.insert(with_axis.begin() + dim + 1, 1);
  Shape expanded = with_axis;
  expanded[dim + 1] = size;
  NodeId column = b.Reshape(index, with_axis);
  NodeId positions = b.Iota(expanded, dim + 1);
  NodeId mask = b.Equal(column, positions);
  NodeId picked = b.Mul(b.Reshape(dy, with_axis), mask);
  return b.ReduceSum(picked, {dim});
}

const OpDef kGather = {
    .name = "gather",
    .summary = "torch.gather: out[..i..] = x[..index[..i..]..] along `dim`.",
    .num_operands = 2,
    .traits = kWindow,
    .infer_type = GatherType,
    .gradient = [](GradContext& g) -> Grads {
      int64_t dim = g.node.attrs.GetInt("dim", 0);
      const int64_t rank = g.b.type(g.operand(0)).rank();
      if (dim < 0) dim += rank;
      int64_t size = g.b.type(g.operand(0)).shape[dim];
      return {GatherGradient(g.b, g.output_grad, g.operand(1), dim, size), std::nullopt};
    },
    .emit_window = [](ScalarBuilder& b, const WindowInputs& in) -> Value {
      const Shape& x = in.operand_types[0].shape;
      int64_t dim = in.node.attrs.GetInt("dim", 0);
      if (dim < 0) dim += static_cast<int64_t>(x.size());
      Value k = in.load(1, in.coords, std::nullopt, 0.0);
      std::vector<Value> at(in.coords.begin(), in.coords.end());
      at[dim] = k;
      return in.load(0, at, InRange(b, k, 0, x[dim]), 0.0);
    },
};

}  // namespace

void RegisterWindowOps(OpRegistry& r) {
  r.Add(kIm2Col);
  r.Add(kCol2Im);
  r.Add(kSlice);
  r.Add(kPad);
  r.Add(kConcat);
  r.Add(kAdaptiveAvgPool2d);
  r.Add(kAdaptiveAvgPool2dGrad);
  r.Add(kGather);
}

}  // namespace kiln::ir
