// The geometry of a 2-D sliding window (convolution, pooling): kernel, stride, padding and
// dilation per spatial dim, and the output size they give, with PyTorch's formula
//   out = floor((in + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1.
#ifndef KILN_IR_OPS_WINDOW_GEOMETRY_H_
#define KILN_IR_OPS_WINDOW_GEOMETRY_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "ir/graph.h"

namespace kiln::ir {

struct WindowGeometry {
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t in_h = 0, in_w = 0;
  int64_t out_h = 0, out_w = 0;

  // Reads attrs kernel, stride (default 1), padding (default 0) and dilation (default 1); each
  // one integer (both dims) or two ([h, w]). Errors on non-positive sizes or an empty output.
  static absl::StatusOr<WindowGeometry> FromAttrs(const Attrs& attrs, int64_t in_h,
                                                  int64_t in_w);

  // The same windows without the kernel rows and columns that read padding at every output
  // position: a 3x3 kernel with padding 1 on a 1x1 map reads the input with its centre tap only,
  // so a convolution there is a 1x1 convolution by the weight's centre (ResNet-18's last stage on
  // 32x32 images; im2col + GEMM would multiply eight zeros for every product that counts).
  // `first_h`/`first_w` are the first live tap in each dim. A dim is kept whole where its live
  // taps cannot be written as a window with the same symmetric padding and output size.
  struct Trimmed;
  Trimmed WithoutDeadTaps() const;
};

struct WindowGeometry::Trimmed {
  WindowGeometry geometry;
  int64_t first_h = 0, first_w = 0;
};

// attrs[key] as [h, w]: a single integer is used for both dims, a missing one gives `fallback`.
absl::StatusOr<std::pair<int64_t, int64_t>> PairAttr(const Attrs& attrs, const std::string& key,
                                                     int64_t fallback);

}  // namespace kiln::ir

#endif  // KILN_IR_OPS_WINDOW_GEOMETRY_H_
