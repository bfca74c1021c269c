// ReadStrides, ChooseLoopOrder and ReductionWalkOrder on hand-written kernels: a GEMM output
// reshaped and transposed to NCHW (the read is contiguous along C, strided along W), a plain
// elementwise kernel, a transpose too small to be worth blocking, col2im into NCHW and NHWC, and
// batch-norm statistics of a transposed GEMM output.
#include "codegen/loop_order.h"

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "ir/parser.h"

namespace kiln::codegen {
namespace {

ir::Graph Parse(const std::string& text) {
  absl::StatusOr<ir::Graph> graph = ir::ParseGraph(text);
  EXPECT_TRUE(graph.ok()) << graph.status();
  return graph.ok() ? *std::move(graph) : ir::Graph();
}

// y [N*H*W, C] = [2*S*S, 32] -> [N, S, S, C] -> transpose to [N, C, S, S] -> relu.
ir::Graph ToNchw(int s) {
  return Parse(absl::StrFormat(R"(graph g {
    %%y = input() {dtype="f32", shape=[%1$d,32]} : f32[%1$d,32] name="y"
    %%r = reshape(%%y) {shape=[2,%2$d,%2$d,32]} : f32[2,%2$d,%2$d,32]
    %%t = transpose(%%r) {perm=[0,3,1,2]} : f32[2,32,%2$d,%2$d]
    %%h = relu(%%t) : f32[2,32,%2$d,%2$d]
    outputs { h = %%h }
  })",
                               2 * s * s, s)
                   .c_str());
}

const ir::Kernel kToNchwKernel{.name = "k0_transpose_relu",
                               .kind = ir::KernelKind::kLoop,
                               .root = 3,
                               .nodes = {2, 3},
                               .outputs = {3},
                               .inputs = {1}};  // A reshape is a view: the kernel reads it.

TEST(LoopOrderTest, ReadStridesFollowTheTransposeBackToTheGemmLayout) {
  const std::vector<std::vector<int64_t>> strides =
      ReadStrides(ToNchw(12), kToNchwKernel, ir::Shape{2, 32, 12, 12});
  ASSERT_EQ(strides.size(), 1u);
  // Output dims n, c, h, w move the read by a whole image, one element, a row of 12 pixels, one
  // pixel (of 32 channels).
  EXPECT_EQ(strides[0], (std::vector<int64_t>{12 * 12 * 32, 1, 12 * 32, 32}));
}

TEST(LoopOrderTest, BlocksTheChannelDimOfATransposedRead) {
  const ir::Graph graph = ToNchw(12);
  EXPECT_EQ(
      ChooseLoopOrder(graph, kToNchwKernel, ir::Shape{2, 32, 12, 12}, /*lowest=*/1).blocked_dim, 1);
  // Dim 0 is split into tasks: it is never the one blocked.
  EXPECT_EQ(
      ChooseLoopOrder(graph, kToNchwKernel, ir::Shape{2, 32, 12, 12}, /*lowest=*/2).blocked_dim,
      std::nullopt);
  // A 4x4 map: too few elements after the channel dim for blocking to pay.
  EXPECT_EQ(ChooseLoopOrder(ToNchw(4), kToNchwKernel, ir::Shape{2, 32, 4, 4}, 1).blocked_dim,
            std::nullopt);
}

TEST(LoopOrderTest, LeavesRowMajorReadsAndShortStridesAlone) {
  const ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[4,32]} : f32[4,32] name="x"
    %s = input() {dtype="f32", shape=[4,3]} : f32[4,3] name="s"
    %h = relu(%x) : f32[4,32]
    %t = transpose(%s) {perm=[1,0]} : f32[3,4]
    outputs { h = %h, t = %t }
  })");
  const ir::Kernel relu{.name = "k0_relu",
                        .kind = ir::KernelKind::kLoop,
                        .root = 2,
                        .nodes = {2},
                        .outputs = {2},
                        .inputs = {0}};
  EXPECT_EQ(ReadStrides(graph, relu, ir::Shape{4, 32}),
            (std::vector<std::vector<int64_t>>{{32, 1}}));
  EXPECT_EQ(ChooseLoopOrder(graph, relu, ir::Shape{4, 32}, 0).blocked_dim, std::nullopt);
  // A 3x4 transpose reads 3 elements apart: within a cache line, nothing to gain.
  const ir::Kernel small{.name = "k1_transpose",
                         .kind = ir::KernelKind::kLoop,
                         .root = 3,
                         .nodes = {3},
                         .outputs = {3},
                         .inputs = {1}};
  EXPECT_EQ(ChooseLoopOrder(graph, small, ir::Shape{3, 4}, 0).blocked_dim, std::nullopt);
  // Left row-major, its innermost read is still strided (its loops are then not unrolled); the
  // relu's is not.
  EXPECT_TRUE(ChooseLoopOrder(graph, small, ir::Shape{3, 4}, 0).innermost_strided);
  EXPECT_FALSE(ChooseLoopOrder(graph, relu, ir::Shape{4, 32}, 0).innermost_strided);
}

// The GEMM output (NHWC) plus a residual input already in NCHW: blocking the channels would
// trade the strided GEMM read for a strided residual read and a strided store.
TEST(LoopOrderTest, KeepsRowMajorWhenBlockingOnlyMovesTheStride) {
  const ir::Graph graph = Parse(R"(graph g {
    %y = input() {dtype="f32", shape=[288,32]} : f32[288,32] name="y"
    %x = input() {dtype="f32", shape=[2,32,12,12]} : f32[2,32,12,12] name="x"
    %r = reshape(%y) {shape=[2,12,12,32]} : f32[2,12,12,32]
    %t = transpose(%r) {perm=[0,3,1,2]} : f32[2,32,12,12]
    %h = add(%t, %x) : f32[2,32,12,12]
    outputs { h = %h }
  })");
  const ir::Kernel residual{.name = "k0_transpose_add",
                            .kind = ir::KernelKind::kLoop,
                            .root = 4,
                            .nodes = {3, 4},
                            .outputs = {4},
                            .inputs = {2, 1}};
  EXPECT_EQ(ChooseLoopOrder(graph, residual, ir::Shape{2, 32, 12, 12}, 1).blocked_dim,
            std::nullopt);
}

// col2im of patches [2, OH, OW, K, K, 32] (input %0) into [2, 32, H, W] (%1), as one kernel.
ir::Graph Col2Im(int oh, int k, int h, const std::string& window) {
  const std::string patches = absl::StrFormat("2,%1$d,%1$d,%2$d,%2$d,32", oh, k);
  return Parse(absl::StrFormat(R"(graph g {
    %%p = input() {dtype="f32", shape=[%1$s]} : f32[%1$s] name="p"
    %%x = col2im(%%p) {input_size=[%3$d,%3$d], kernel=[%2$d,%2$d], %4$s} : f32[2,32,%3$d,%3$d]
    outputs { x = %%x }
  })",
                               patches, k, h, window)
                   .c_str());
}

// The loop kernel of a graph whose one op (%1) reads its input (%0): a col2im, a pad.
const ir::Kernel kOneOpKernel{.name = "k0_op",
                              .kind = ir::KernelKind::kLoop,
                              .root = 1,
                              .nodes = {1},
                              .outputs = {1},
                              .inputs = {0}};

// col2im writes NCHW from patches [N, OH, OW, KH, KW, C]: every tap it sums is contiguous along
// the channel and strided along W, so the channel is walked in blocks, as for a transpose.
TEST(LoopOrderTest, BlocksTheChannelDimOfACol2Im) {
  const ir::Graph graph = Col2Im(4, 2, 8, "stride=[2,2]");
  EXPECT_EQ(ChooseLoopOrder(graph, kOneOpKernel, ir::Shape{2, 32, 8, 8}, 1).blocked_dim, 1);
  EXPECT_TRUE(ChooseLoopOrder(graph, kOneOpKernel, ir::Shape{2, 32, 8, 8}, 0).innermost_strided);
}

// With channels_last (as im2col's gradient asks for channel-innermost patches) col2im writes
// [N, H, W, C]: every tap is contiguous along the output's own last dim, nothing to block.
TEST(LoopOrderTest, ChannelsLastCol2ImReadsEveryTapInOrder) {
  const ir::Graph graph = Parse(R"(graph g {
    %p = input() {dtype="f32", shape=[2,4,4,2,2,32]} : f32[2,4,4,2,2,32] name="p"
    %x = col2im(%p) {input_size=[8,8], kernel=[2,2], stride=[2,2], channels_last=1} : f32[2,8,8,32]
    outputs { x = %x }
  })");
  const LoopOrder order = ChooseLoopOrder(graph, kOneOpKernel, ir::Shape{2, 8, 8, 32}, 1);
  EXPECT_EQ(order.blocked_dim, std::nullopt);
  EXPECT_FALSE(order.innermost_strided);
}

// A 4x4 map leaves 16 elements after the channel dim: too few to block a transpose's one strided
// read (BlocksTheChannelDimOfATransposedRead), enough to spare a 3x3 col2im's nine.
TEST(LoopOrderTest, BlocksACol2ImOverAShortRunItsManyTapsPayFor) {
  const ir::Graph graph = Col2Im(4, 3, 4, "padding=[1,1]");
  EXPECT_EQ(ChooseLoopOrder(graph, kOneOpKernel, ir::Shape{2, 32, 4, 4}, 1).blocked_dim, 1);
}

// A 3x3 weight gradient [8, 3, 3, 32] summed from four zero-padded 2x2 slices, then transposed
// to [8, 32, 3, 3] (a dense convolution's, ResNet-18's layer3): each slice is read contiguously
// along the channel and strided along the taps, and blocking the channel spares all four strided
// reads, which pays over the 9 taps after it (a single transposed read would need 64).
TEST(LoopOrderTest, BlocksASumOfPaddedSlicesOverItsTaps) {
  std::string text = "graph g {\n";
  const char* lo[] = {"0,0", "0,1", "1,0", "1,1"};
  for (int i = 0; i < 4; ++i) {
    text += absl::StrFormat(
        "  %%s%1$d = input() {dtype=\"f32\", shape=[8,2,2,32]} : f32[8,2,2,32] "
        "name=\"s%1$d\"\n",
        i);
  }
  for (int i = 0; i < 4; ++i) {
    text += absl::StrFormat(
        "  %%p%1$d = pad(%%s%1$d) {lo=[0,%2$s,0], shape=[8,3,3,32], stride=[1,1,1,1], "
        "value=0.0} : f32[8,3,3,32]\n",
        i, lo[i]);
  }
  text += R"(  %a1 = add(%p0, %p1) : f32[8,3,3,32]
  %a2 = add(%a1, %p2) : f32[8,3,3,32]
  %a3 = add(%a2, %p3) : f32[8,3,3,32]
  %t = transpose(%a3) {perm=[0,3,1,2]} : f32[8,32,3,3]
  outputs { t = %t }
})";
  const ir::Graph graph = Parse(text);
  const ir::Kernel kernel{.name = "k0_pad_add_pad_add",
                          .kind = ir::KernelKind::kLoop,
                          .root = 11,
                          .nodes = {4, 5, 6, 7, 8, 9, 10, 11},
                          .outputs = {11},
                          .inputs = {0, 1, 2, 3}};
  EXPECT_EQ(ChooseLoopOrder(graph, kernel, ir::Shape{8, 32, 3, 3}, 1).blocked_dim, 1);
}

// A weight gradient [8, 16, 1, 1] zero-padded to [8, 16, 3, 3]: the taps outside the operand
// read nothing, and those inside read it in order, so the nest stays row-major and unrollable
// (the fill once redirected every coordinate to 0, which read as a stride of the whole tensor).
TEST(LoopOrderTest, PaddedTapsReadTheOperandInOrder) {
  const ir::Graph graph = Parse(R"(graph g {
    %g = input() {dtype="f32", shape=[8,16,1,1]} : f32[8,16,1,1] name="g"
    %p = pad(%g) {lo=[0,0,1,1], shape=[8,16,3,3], stride=[1,1,1,1], value=0.0} : f32[8,16,3,3]
    outputs { p = %p }
  })");
  const std::vector<std::vector<int64_t>> strides =
      ReadStrides(graph, kOneOpKernel, ir::Shape{8, 16, 3, 3});
  ASSERT_EQ(strides.size(), 1u);
  // A tap past the operand reads its coordinate 0 in the padded dims only: no move at all.
  EXPECT_EQ(strides[0], (std::vector<int64_t>{16, 1, 0, 0}));
  const LoopOrder order = ChooseLoopOrder(graph, kOneOpKernel, ir::Shape{8, 16, 3, 3}, 1);
  EXPECT_FALSE(order.innermost_strided);
  EXPECT_EQ(order.blocked_dim, std::nullopt);
}

// sum over N, H, W of a GEMM output [N*S*S, 32] viewed as NCHW, times `other` (shape [2,32,S,S]).
ir::Graph ChannelStatistics(const std::string& other) {
  return Parse(absl::StrFormat(R"(graph g {
    %%y = input() {dtype="f32", shape=[288,32]} : f32[288,32] name="y"
    %%o = input() {dtype="f32", shape=%s} : f32%s name="o"
    %%r = reshape(%%y) {shape=[2,12,12,32]} : f32[2,12,12,32]
    %%t = transpose(%%r) {perm=[0,3,1,2]} : f32[2,32,12,12]
    %%m = mul(%%t, %%o) : f32[2,32,12,12]
    %%s = reduce_sum(%%m) {dims=[0,2,3]} : f32[32]
    outputs { s = %%s }
  })",
                               other, other)
                   .c_str());
}

const ir::Kernel kStatisticsKernel{.name = "k0_transpose_mul_reduce_sum",
                                   .kind = ir::KernelKind::kReduction,
                                   .root = 5,
                                   .nodes = {3, 4, 5},
                                   .outputs = {5},
                                   .inputs = {1, 2}};

TEST(LoopOrderTest, ReductionWalksATransposedOperandInItsMemoryOrder) {
  // The other factor broadcast along everything but the channels: N, H, W, C.
  const ir::Graph broadcast = ChannelStatistics("[1,32,1,1]");
  EXPECT_EQ(ReductionWalkOrder(broadcast, kStatisticsKernel, 4, ir::Shape{2, 32, 12, 12}),
            (std::vector<int>{0, 2, 3, 1}));
  // A second operand already in NCHW: either order reads one of them strided; keep row-major.
  const ir::Graph nchw = ChannelStatistics("[2,32,12,12]");
  EXPECT_EQ(ReductionWalkOrder(nchw, kStatisticsKernel, 4, ir::Shape{2, 32, 12, 12}),
            (std::vector<int>{0, 1, 2, 3}));
}

TEST(LoopOrderTest, ReductionOfARowMajorOperandWalksRowMajor) {
  const ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[6,32,5]} : f32[6,32,5] name="x"
    %e = exp(%x) : f32[6,32,5]
    %s = reduce_sum(%e) {dims=[0,2]} : f32[32]
    outputs { s = %s }
  })");
  const ir::Kernel sum{.name = "k0_exp_reduce_sum",
                       .kind = ir::KernelKind::kReduction,
                       .root = 2,
                       .nodes = {1, 2},
                       .outputs = {2},
                       .inputs = {0}};
  EXPECT_EQ(ReductionWalkOrder(graph, sum, 1, ir::Shape{6, 32, 5}), (std::vector<int>{0, 1, 2}));
}

}  // namespace
}  // namespace kiln::codegen
