#include "ir/ops/window_geometry.h"

#include "absl/strings/str_format.h"
#include "support/status.h"

namespace kiln::ir {

absl::StatusOr<std::pair<int64_t, int64_t>> PairAttr(const Attrs& attrs, const std::string& key,
                                                     int64_t fallback) {
  if (!attrs.Has(key)) return std::make_pair(fallback, fallback);
  std::vector<int64_t> v = attrs.GetInts(key);
  if (v.size() == 1) return std::make_pair(v[0], v[0]);
  if (v.size() == 2) return std::make_pair(v[0], v[1]);
  return absl::InvalidArgumentError(
      absl::StrFormat("%s must be one integer or two ([h, w]), got %s", key, ShapeToString(v)));
}

absl::StatusOr<WindowGeometry> WindowGeometry::FromAttrs(const Attrs& attrs, int64_t in_h,
                                                         int64_t in_w) {
  WindowGeometry g;
  g.in_h = in_h;
  g.in_w = in_w;
  if (!attrs.Has("kernel")) return absl::InvalidArgumentError("missing the kernel size");
  KILN_ASSIGN_OR_RETURN(auto kernel, PairAttr(attrs, "kernel", 1));
  KILN_ASSIGN_OR_RETURN(auto stride, PairAttr(attrs, "stride", 1));
  KILN_ASSIGN_OR_RETURN(auto padding, PairAttr(attrs, "padding", 0));
  KILN_ASSIGN_OR_RETURN(auto dilation, PairAttr(attrs, "dilation", 1));
  std::tie(g.kernel_h, g.kernel_w) = kernel;
  std::tie(g.stride_h, g.stride_w) = stride;
  std::tie(g.pad_h, g.pad_w) = padding;
  std::tie(g.dilation_h, g.dilation_w) = dilation;
  if (g.kernel_h <= 0 || g.kernel_w <= 0 || g.stride_h <= 0 || g.stride_w <= 0 ||
      g.dilation_h <= 0 || g.dilation_w <= 0 || g.pad_h < 0 || g.pad_w < 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "kernel %dx%d, stride %dx%d and dilation %dx%d must be positive and padding %dx%d "
        "non-negative",
        g.kernel_h, g.kernel_w, g.stride_h, g.stride_w, g.dilation_h, g.dilation_w, g.pad_h,
        g.pad_w));
  }
  // Real windows are far smaller; the bound keeps the arithmetic below from overflowing int64.
  constexpr int64_t kMaxWindowAttr = int64_t{1} << 31;
  for (int64_t v : {g.kernel_h, g.kernel_w, g.stride_h, g.stride_w, g.pad_h, g.pad_w,
                    g.dilation_h, g.dilation_w}) {
    if (v > kMaxWindowAttr) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "kernel, stride, padding and dilation must be at most 2^31, got %d", v));
    }
  }
  int64_t span_h = g.dilation_h * (g.kernel_h - 1) + 1;
  int64_t span_w = g.dilation_w * (g.kernel_w - 1) + 1;
  int64_t padded_h = in_h + 2 * g.pad_h, padded_w = in_w + 2 * g.pad_w;
  if (padded_h < span_h || padded_w < span_w) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the %dx%d window (dilated %dx%d) does not fit the %dx%d input padded to %dx%d",
        g.kernel_h, g.kernel_w, span_h, span_w, in_h, in_w, padded_h, padded_w));
  }
  g.out_h = (padded_h - span_h) / g.stride_h + 1;
  g.out_w = (padded_w - span_w) / g.stride_w + 1;
  return g;
}

namespace {

// One spatial dim of a window: the taps [first, first + kernel) and the padding that reads the
// same input positions as the full kernel's live taps, or the dim unchanged.
struct DimWindow {
  int64_t first = 0, kernel, pad;
};

DimWindow LiveTaps(int64_t kernel, int64_t stride, int64_t pad, int64_t dilation, int64_t in,
                   int64_t out) {
  // Tap k reads o * stride - pad + k * dilation for o in [0, out); it is live when one of those
  // lies in [0, in). The first such o is the smallest with o * stride >= pad - k * dilation.
  auto live = [&](int64_t k) {
    const int64_t need = pad - k * dilation;
    const int64_t o = need <= 0 ? 0 : (need + stride - 1) / stride;
    return o < out && o * stride - pad + k * dilation < in;
  };
  int64_t first = 0, last = kernel - 1;
  while (first < kernel && !live(first)) ++first;
  while (last > first && !live(last)) --last;
  const DimWindow whole{0, kernel, pad};
  if (first == kernel || (first == 0 && last == kernel - 1)) return whole;
  const DimWindow trimmed{first, last - first + 1, pad - first * dilation};
  // Symmetric padding: the trimmed window must still give `out` positions.
  const int64_t span = dilation * (trimmed.kernel - 1) + 1;
  const int64_t padded = in + 2 * trimmed.pad;
  if (trimmed.pad < 0 || padded < span || (padded - span) / stride + 1 != out) return whole;
  return trimmed;
}

}  // namespace

WindowGeometry::Trimmed WindowGeometry::WithoutDeadTaps() const {
  const DimWindow h = LiveTaps(kernel_h, stride_h, pad_h, dilation_h, in_h, out_h);
  const DimWindow w = LiveTaps(kernel_w, stride_w, pad_w, dilation_w, in_w, out_w);
  Trimmed t{*this, h.first, w.first};
  t.geometry.kernel_h = h.kernel;
  t.geometry.pad_h = h.pad;
  t.geometry.kernel_w = w.kernel;
  t.geometry.pad_w = w.pad;
  return t;
}

}  // namespace kiln::ir
