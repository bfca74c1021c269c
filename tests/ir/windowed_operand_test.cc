// ResolveWindowedOperand: the offsets it gives for a window op's output viewed as a matrix are
// where im2col's definition reads each element, through the transpose to the stored NHWC data;
// and it refuses what a GEMM cannot read that way (padding, which reads the fill; rows that
// split the window's output position).
#include "ir/windowed_operand.h"

#include <string>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "ir/parser.h"

namespace kiln::ir {
namespace {

// x stored NHWC [2, 6, 7, C], viewed NCHW by a transpose, then im2col with `window` attrs and a
// reshape to [N*OH*OW, patch] (the patch dims in `patch_shape` order).
Graph ConvPatches(int64_t channels, const std::string& window, const std::string& patch_shape,
                  int64_t rows, int64_t cols) {
  const std::string text =
      absl::StrFormat(R"(graph g {
  %%x = input() {dtype="f32", shape=[2,6,7,%d]} : f32[2,6,7,%d] name="x"
  %%v = transpose(%%x) {perm=[0,3,1,2]} : f32[2,%d,6,7]
  %%p = im2col(%%v) {%s} : f32[%s]
  %%m = reshape(%%p) {shape=[%d,%d]} : f32[%d,%d]
  outputs { m = %%m }
})",
                      channels, channels, channels, window, patch_shape, rows, cols, rows, cols);
  absl::StatusOr<Graph> graph = ParseGraph(text);
  EXPECT_TRUE(graph.ok()) << graph.status() << "\n" << text;
  return graph.ok() ? *std::move(graph) : Graph();
}

TEST(WindowedOperandTest, OffsetsAreWhereIm2ColReads) {
  // 3x3, stride [1, 2], dilation [1, 2]: OH = 4, OW = 2; channels innermost.
  const int64_t c = 3, h = 6, w = 7, oh_count = 4, ow_count = 2;
  Graph g = ConvPatches(c, "kernel=[3,3], stride=[1,2], dilation=[1,2]", "2,4,2,3,3,3", 16, 27);
  std::optional<WindowedOperand> op = ResolveWindowedOperand(g, 3);
  ASSERT_TRUE(op.has_value());
  EXPECT_EQ(op->source, 0);
  EXPECT_EQ(op->window, 2);
  EXPECT_EQ(op->addressed, (std::vector<NodeId>{3, 2, 1}));
  ASSERT_EQ(op->row_offsets.size(), 16u);
  ASSERT_EQ(op->col_offsets.size(), 27u);
  for (int64_t n = 0; n < 2; ++n) {
    for (int64_t oh = 0; oh < oh_count; ++oh) {
      for (int64_t ow = 0; ow < ow_count; ++ow) {
        for (int64_t kh = 0; kh < 3; ++kh) {
          for (int64_t kw = 0; kw < 3; ++kw) {
            for (int64_t ch = 0; ch < c; ++ch) {
              const int64_t row = (n * oh_count + oh) * ow_count + ow;
              const int64_t col = (kh * 3 + kw) * c + ch;
              const int64_t ih = oh + kh, iw = ow * 2 + kw * 2;
              EXPECT_EQ(op->row_offsets[row] + op->col_offsets[col],
                        ((n * h + ih) * w + iw) * c + ch)
                  << "row " << row << " col " << col;
            }
          }
        }
      }
    }
  }
  // Dilation 2 along the width: only each tap's channels are consecutive.
  EXPECT_EQ(op->contiguous_run, 3);
}

TEST(WindowedOperandTest, ChannelMajorPatchesAndTheirRuns) {
  // Patches [N,OH,OW,C,KH,KW]: column (c, kh, kw), so the runs are one float long.
  Graph g = ConvPatches(16, "kernel=[3,3], channel_major=1", "2,4,5,16,3,3", 40, 144);
  std::optional<WindowedOperand> op = ResolveWindowedOperand(g, 3);
  ASSERT_TRUE(op.has_value());
  EXPECT_EQ(op->col_offsets[1] - op->col_offsets[0], 16);  // (c, 0, 1): one pixel on.
  EXPECT_EQ(op->contiguous_run, 1);
  // Channels innermost, stride 1: a kernel row's taps and channels are one run of 3 x 16.
  Graph last = ConvPatches(16, "kernel=[3,3]", "2,4,5,3,3,16", 40, 144);
  op = ResolveWindowedOperand(last, 3);
  ASSERT_TRUE(op.has_value());
  EXPECT_EQ(op->contiguous_run, 48);
}

TEST(WindowedOperandTest, RefusesPaddingAndRowsThatSplitAPosition) {
  // Padding reads the fill, which no buffer holds.
  Graph padded = ConvPatches(3, "kernel=[3,3], padding=[1,1]", "2,6,7,3,3,3", 84, 27);
  EXPECT_FALSE(ResolveWindowedOperand(padded, 3).has_value());
  // Rows of (n, oh, ow, kh): the kernel row would have to be in both parts.
  Graph split = ConvPatches(3, "kernel=[3,3]", "2,4,5,3,3,3", 120, 9);
  EXPECT_FALSE(ResolveWindowedOperand(split, 3).has_value());
  // Not a window op's output at all.
  EXPECT_FALSE(ResolveWindowedOperand(split, 0).has_value());
}

}  // namespace
}  // namespace kiln::ir
