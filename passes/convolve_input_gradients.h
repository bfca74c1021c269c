// The input gradient of a stride-1 convolution as a convolution: autodiff of im2col + GEMM leaves
//   dx = slice(col2im(reshape(dy @ W)))
// which stores the patches' gradient (KH*KW times the input's size: 40 MB a step for fashion_cnn's
// second convolution) and sums it back tap by tap. With stride 1 the same sum is a convolution
// of dy, zero-padded by KH-1-a (a: the slice's start), with the weight's taps reversed:
//   dx[n,h,w,c] = Σ_{kh,kw,oc} dy_padded[n, h+kh, w+kw, oc] * W[oc, KH-1-kh, KW-1-kw, c]
// one GEMM over the patches of dy_padded, which the GEMM reads from dy_padded itself (a windowed
// operand, ir/windowed_operand.h): no patch gradient and no col2im. Only the box the slice keeps
// is computed. The sum's order changes (one sum over taps and channels instead of a sum over
// channels per tap, then over taps).
#ifndef KILN_PASSES_CONVOLVE_INPUT_GRADIENTS_H_
#define KILN_PASSES_CONVOLVE_INPUT_GRADIENTS_H_

#include "absl/status/statusor.h"
#include "ir/graph.h"

namespace kiln::passes {

// Rewrites every box_start op (slice) of a patch_sum op (col2im) whose patches are a GEMM's
// product, where the sum is stride 1, undilated, unpadded, channels last with the channel
// innermost in the patches, over a window of more than one tap, and the slice keeps whole
// batches and channels of a box the padded gradient covers. Returns whether it rewrote any.
absl::StatusOr<bool> ConvolveInputGradients(ir::Graph& graph);

}  // namespace kiln::passes

#endif  // KILN_PASSES_CONVOLVE_INPUT_GRADIENTS_H_
