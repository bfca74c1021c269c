// Fused CPU kernels against plain references: each graph here has a known fusion (asserted from
// the compiled KernelProgram), is compiled by the real pipeline and JIT (GraphRunner), and its
// results are compared with a straightforward loop nest computed in double in this file. Shapes
// include odd sizes, a GEMM width that leaves a masked edge (n = 10), and sizes above the 16384
// elements from which kernels are split across threads.
#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "ir/graph_builder.h"
#include "passes/fuse_kernels.h"
#include "tools/graph_runner.h"

namespace kiln::cpu {
namespace {

using ir::DType;
using ir::Graph;
using ir::NodeId;
using ir::Shape;
using ir::TensorType;
using tools::GraphRunner;

TensorType F32(Shape shape) { return TensorType{DType::kF32, std::move(shape)}; }
ir::Attrs ZeroInit() { return {{"init", std::string("constant")}, {"value", 0.0}}; }

// Uniform values in [lo, hi), rounded to f32 so the reference sees exactly what the kernel does.
std::vector<double> Random(int64_t n, uint32_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(n);
  for (double& x : v) x = static_cast<float>(dist(rng));
  return v;
}

// "kind: op op ..." per kernel in execution order; inlined constants and iotas left out.
std::vector<std::string> Fusion(const GraphRunner& runner) {
  const ir::KernelProgram& program = runner.program();
  std::vector<std::string> kernels;
  for (const ir::Kernel& k : program.kernels) {
    std::vector<std::string> ops;
    for (NodeId id : k.nodes) {
      const ir::Node& node = program.graph.node(id);
      if (!passes::IsInlinedGenerator(node)) ops.push_back(node.op);
    }
    const char* kind = k.kind == ir::KernelKind::kMatmul      ? "matmul"
                       : k.kind == ir::KernelKind::kReduction ? "reduction"
                                                              : "loop";
    kernels.push_back(absl::StrCat(kind, ": ", absl::StrJoin(ops, " ")));
  }
  return kernels;
}

std::unique_ptr<GraphRunner> Compile(Graph graph) {
  auto runner = GraphRunner::Compile(std::move(graph));
  EXPECT_TRUE(runner.ok()) << runner.status();
  return runner.ok() ? *std::move(runner) : nullptr;
}

void Set(GraphRunner& runner, const std::string& name, const std::vector<double>& values) {
  absl::Status s = runner.Set(name, values);
  ASSERT_TRUE(s.ok()) << s;
}

std::vector<double> Read(const GraphRunner& runner, const std::string& name) {
  auto values = runner.Read(name);
  EXPECT_TRUE(values.ok()) << values.status();
  return values.ok() ? *values : std::vector<double>{};
}

// f32 accumulation error grows with the number of terms; 1e-5 per unit magnitude is ample for
// the short sums here and far below what a wrong index or a missed element gives.
void ExpectClose(const std::vector<double>& got, const std::vector<double>& want,
                 double tol = 1e-5) {
  ASSERT_EQ(got.size(), want.size());
  int reported = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::abs(got[i] - want[i]) <= tol * (1 + std::abs(want[i]))) continue;
    ADD_FAILURE() << "element " << i << ": got " << got[i] << ", want " << want[i];
    if (++reported == 5) return;
  }
}

struct GemmShape {
  int64_t m, k, n;
};

class GemmEpilogueTest : public ::testing::TestWithParam<GemmShape> {};

// relu(x @ w + b): one GEMM kernel with bias and ReLU in its epilogue.
TEST_P(GemmEpilogueTest, BiasReluEpilogueMatchesReference) {
  const auto [m, k, n] = GetParam();
  Graph graph;
  ir::GraphBuilder b(graph);
  NodeId x = b.Input("x", F32({m, k}));
  NodeId w = b.Parameter("w", F32({k, n}), ZeroInit());
  NodeId bias = b.Parameter("b", F32({n}), ZeroInit());
  graph.outputs = {{"h", b.Relu(b.Add(b.MatMul(x, w), bias))}};
  ASSERT_TRUE(b.status().ok()) << b.status();
  auto runner = Compile(std::move(graph));
  ASSERT_NE(runner, nullptr);
  EXPECT_EQ(Fusion(*runner), std::vector<std::string>{"matmul: matmul add relu"});

  std::vector<double> xs = Random(m * k, 1), ws = Random(k * n, 2), bs = Random(n, 3);
  Set(*runner, "x", xs);
  Set(*runner, "w", ws);
  Set(*runner, "b", bs);
  ASSERT_TRUE(runner->Run().ok());
  std::vector<double> want(m * n);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = bs[j];
      for (int64_t p = 0; p < k; ++p) acc += xs[i * k + p] * ws[p * n + j];
      want[i * n + j] = std::max(acc, 0.0);
    }
  }
  ExpectClose(Read(*runner, "h"), want, 1e-5 * std::sqrt(static_cast<double>(k)));
}

INSTANTIATE_TEST_SUITE_P(Shapes, GemmEpilogueTest,
                         ::testing::Values(GemmShape{37, 19, 10},    // Masked edge (n % 16).
                                           GemmShape{5, 3, 1},       // One column.
                                           GemmShape{1, 8, 20},      // One row.
                                           GemmShape{33, 17, 48},    // Whole vectors only.
                                           GemmShape{160, 64, 130}),  // 20800 outputs: threads.
                         [](const ::testing::TestParamInfo<GemmShape>& info) {
                           const GemmShape& s = info.param;
                           return absl::StrCat("m", s.m, "_k", s.k, "_n", s.n);
                         });

// op(x)^T-style reads: both GEMM operands stored transposed, and an epilogue that reads a
// [n, m] tensor through a transpose (a gathered, non-contiguous load per lane).
void TransposedGemm(int64_t m, int64_t k, int64_t n) {
  Graph graph;
  ir::GraphBuilder b(graph);
  NodeId x = b.Input("x", F32({k, m}));
  NodeId w = b.Input("w", F32({n, k}));
  NodeId r = b.Input("r", F32({n, m}));
  NodeId mm = b.MatMul(x, w, /*transpose_a=*/true, /*transpose_b=*/true);
  graph.outputs = {{"y", b.Mul(mm, b.Transpose(r, {1, 0}))}};
  ASSERT_TRUE(b.status().ok()) << b.status();
  auto runner = Compile(std::move(graph));
  ASSERT_NE(runner, nullptr);
  EXPECT_EQ(Fusion(*runner), std::vector<std::string>{"matmul: matmul transpose mul"});
  std::vector<double> xs = Random(k * m, 4), ws = Random(n * k, 5), rs = Random(n * m, 6);
  Set(*runner, "x", xs);
  Set(*runner, "w", ws);
  Set(*runner, "r", rs);
  ASSERT_TRUE(runner->Run().ok());
  std::vector<double> want(m * n);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t p = 0; p < k; ++p) acc += xs[p * m + i] * ws[j * k + p];
      want[i * n + j] = acc * rs[j * m + i];
    }
  }
  ExpectClose(Read(*runner, "y"), want);
}

TEST(FusedKernelTest, TransposedGemmWithTransposedEpilogueRead) { TransposedGemm(21, 7, 10); }
TEST(FusedKernelTest, TransposedGemmWithTransposedEpilogueReadThreaded) {
  TransposedGemm(130, 9, 140);
}

// sum(exp(x) * v, dims) with the elementwise producers computed inside the reduction's loop. v
// varies along both dims (factor-sums would take a v constant along `dim` out of the sum).
void ReductionWithPrologue(int64_t rows, int64_t cols, int64_t dim) {
  Graph graph;
  ir::GraphBuilder b(graph);
  NodeId x = b.Input("x", F32({rows, cols}));
  NodeId v = b.Input("v", F32({rows, cols}));
  graph.outputs = {{"s", b.ReduceSum(b.Mul(b.Exp(x), v), {dim})}};
  ASSERT_TRUE(b.status().ok()) << b.status();
  auto runner = Compile(std::move(graph));
  ASSERT_NE(runner, nullptr);
  EXPECT_EQ(Fusion(*runner), std::vector<std::string>{"reduction: exp mul reduce_sum"});
  std::vector<double> xs = Random(rows * cols, 7), vs = Random(rows * cols, 8);
  Set(*runner, "x", xs);
  Set(*runner, "v", vs);
  ASSERT_TRUE(runner->Run().ok());
  std::vector<double> want(dim == 1 ? rows : cols, 0.0);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      want[dim == 1 ? i : j] += std::exp(xs[i * cols + j]) * vs[i * cols + j];
    }
  }
  ExpectClose(Read(*runner, "s"), want, 1e-5 * std::sqrt(static_cast<double>(rows + cols)));
}

TEST(FusedKernelTest, RowSumWithPrologue) { ReductionWithPrologue(13, 7, 1); }
TEST(FusedKernelTest, RowSumWithPrologueThreaded) { ReductionWithPrologue(300, 71, 1); }
TEST(FusedKernelTest, ColumnSumWithPrologue) { ReductionWithPrologue(13, 7, 0); }
TEST(FusedKernelTest, ColumnSumWithPrologueThreaded) { ReductionWithPrologue(300, 71, 0); }

// Batch-norm statistics of a GEMM output: x [N*S*S, C] viewed as NCHW (a transpose), summed over
// N, H and W. The reduction walks the operand in x's memory order, channels innermost
// (codegen::ReductionWalkOrder), and must still store each channel's sum at its own index.
void ChannelSumsThroughTranspose(int64_t n, int64_t s, int64_t c) {
  Graph graph;
  ir::GraphBuilder b(graph);
  NodeId x = b.Input("x", F32({n * s * s, c}));
  NodeId nchw = b.Transpose(b.Reshape(x, {n, s, s, c}), {0, 3, 1, 2});
  graph.outputs = {{"s", b.ReduceSum(b.Mul(nchw, nchw), {0, 2, 3})}};
  ASSERT_TRUE(b.status().ok()) << b.status();
  auto runner = Compile(std::move(graph));
  ASSERT_NE(runner, nullptr);
  EXPECT_EQ(Fusion(*runner), std::vector<std::string>{"reduction: transpose mul reduce_sum"});
  std::vector<double> xs = Random(n * s * s * c, 19);
  Set(*runner, "x", xs);
  ASSERT_TRUE(runner->Run().ok());
  std::vector<double> want(c, 0.0);
  for (int64_t row = 0; row < n * s * s; ++row) {
    for (int64_t ch = 0; ch < c; ++ch) want[ch] += xs[row * c + ch] * xs[row * c + ch];
  }
  ExpectClose(Read(*runner, "s"), want, 1e-5 * std::sqrt(static_cast<double>(n * s * s)));
}

TEST(FusedKernelTest, ChannelSumsThroughTranspose) { ChannelSumsThroughTranspose(3, 5, 7); }
TEST(FusedKernelTest, ChannelSumsThroughTransposeThreaded) {
  ChannelSumsThroughTranspose(16, 12, 48);
}

// max over the middle dim of a rank-3 tensor, keepdim: the non-trailing (accumulate) path.
TEST(FusedKernelTest, MiddleDimMaxKeepdim) {
  constexpr int64_t A = 3, B = 7, C = 5;
  Graph graph;
  ir::GraphBuilder b(graph);
  NodeId x = b.Input("x", F32({A, B, C}));
  graph.outputs = {{"m", b.ReduceMax(b.Neg(x), {1}, /*keepdim=*/true)}};
  auto runner = Compile(std::move(graph));
  ASSERT_NE(runner, nullptr);
  EXPECT_EQ(Fusion(*runner), std::vector<std::string>{"reduction: neg reduce_max"});
  std::vector<double> xs = Random(A * B * C, 9);
  Set(*runner, "x", xs);
  ASSERT_TRUE(runner->Run().ok());
  std::vector<double> want(A * C, -INFINITY);
  for (int64_t a = 0; a < A; ++a) {
    for (int64_t i = 0; i < B; ++i) {
      for (int64_t c = 0; c < C; ++c) {
        want[a * C + c] = std::max(want[a * C + c], -xs[(a * B + i) * C + c]);
      }
    }
  }
  ExpectClose(Read(*runner, "m"), want, 0);
}

// One Adam-style step as a single loop kernel writing p, m and v in place; two steps so that the
// second reads the state the first wrote.
TEST(FusedKernelTest, AdamUpdateIsOneMultiOutputLoopKernel) {
  constexpr int64_t R = 129, C = 131;  // 16899 elements: split across threads.
  constexpr double kLr = 0.01, kB1 = 0.9, kB2 = 0.999, kEps = 1e-8;
  Graph graph;
  ir::GraphBuilder b(graph);
  NodeId g = b.Input("g", F32({R, C}));
  NodeId p = b.Parameter("p", F32({R, C}), ZeroInit());
  NodeId m = b.State("p.m", F32({R, C}));
  NodeId v = b.State("p.v", F32({R, C}));
  NodeId new_m = b.Add(b.Mul(m, b.Scalar(kB1)), b.Mul(g, b.Scalar(1 - kB1)));
  NodeId new_v = b.Add(b.Mul(v, b.Scalar(kB2)), b.Mul(b.Mul(g, g), b.Scalar(1 - kB2)));
  NodeId step = b.Div(new_m, b.Add(b.Sqrt(new_v), b.Scalar(kEps)));
  NodeId new_p = b.Sub(p, b.Mul(step, b.Scalar(kLr)));
  ASSERT_TRUE(b.status().ok()) << b.status();
  graph.updates = {{p, new_p}, {m, new_m}, {v, new_v}};
  auto runner = Compile(std::move(graph));
  ASSERT_NE(runner, nullptr);
  const ir::KernelProgram& program = runner->program();
  ASSERT_EQ(program.kernels.size(), 1u) << absl::StrJoin(Fusion(*runner), "\n");
  EXPECT_EQ(program.kernels[0].kind, ir::KernelKind::kLoop);
  EXPECT_EQ(program.kernels[0].outputs.size(), 3u);

  const int64_t n = R * C;
  std::vector<double> ps = Random(n, 10), ms = Random(n, 11, -0.1, 0.1), vs = Random(n, 12, 0, 0.1);
  Set(*runner, "p", ps);
  Set(*runner, "p.m", ms);
  Set(*runner, "p.v", vs);
  for (int iteration = 0; iteration < 2; ++iteration) {
    std::vector<double> gs = Random(n, 13 + iteration);
    Set(*runner, "g", gs);
    ASSERT_TRUE(runner->Run().ok());
    for (int64_t i = 0; i < n; ++i) {
      ms[i] = kB1 * ms[i] + (1 - kB1) * gs[i];
      vs[i] = kB2 * vs[i] + (1 - kB2) * gs[i] * gs[i];
      ps[i] -= kLr * ms[i] / (std::sqrt(vs[i]) + kEps);
    }
    ExpectClose(Read(*runner, "p.m"), ms);
    ExpectClose(Read(*runner, "p.v"), vs);
    // A missed, doubled or misplaced update moves p by about lr = 1e-2, far above 1e-5.
    ExpectClose(Read(*runner, "p"), ps, 1e-5);
  }
}

// (a * c) + d with a [A,1,C], c [B,1], d [C] broadcast to [A,B,C] in one loop.
void BroadcastingLoads(int64_t A, int64_t B, int64_t C) {
  Graph graph;
  ir::GraphBuilder b(graph);
  NodeId a = b.Input("a", F32({A, 1, C}));
  NodeId c = b.Input("c", F32({B, 1}));
  NodeId d = b.Input("d", F32({C}));
  graph.outputs = {{"y", b.Add(b.Mul(a, c), d)}};
  ASSERT_TRUE(b.status().ok()) << b.status();
  auto runner = Compile(std::move(graph));
  ASSERT_NE(runner, nullptr);
  EXPECT_EQ(Fusion(*runner), std::vector<std::string>{"loop: mul add"});
  std::vector<double> as = Random(A * C, 14), cs = Random(B, 15), ds = Random(C, 16);
  Set(*runner, "a", as);
  Set(*runner, "c", cs);
  Set(*runner, "d", ds);
  ASSERT_TRUE(runner->Run().ok());
  std::vector<double> want(A * B * C);
  for (int64_t i = 0; i < A; ++i) {
    for (int64_t j = 0; j < B; ++j) {
      for (int64_t k = 0; k < C; ++k) want[(i * B + j) * C + k] = as[i * C + k] * cs[j] + ds[k];
    }
  }
  ExpectClose(Read(*runner, "y"), want);
}

TEST(FusedKernelTest, BroadcastingLoads) { BroadcastingLoads(5, 3, 7); }
TEST(FusedKernelTest, BroadcastingLoadsThreaded) { BroadcastingLoads(40, 3, 151); }

// relu(x * s + t) * u with x [N,C,H,W], s [1,C,1,1], t [C,1,1] and u [] (batch norm's affine
// step): every value spans H and W or neither, so the kernel walks H*W as one loop; s spans C
// without H and W, so C stays a loop of its own.
void ChannelAffine(int64_t N, int64_t C, int64_t H, int64_t W) {
  Graph graph;
  ir::GraphBuilder b(graph);
  NodeId x = b.Input("x", F32({N, C, H, W}));
  NodeId s = b.Input("s", F32({1, C, 1, 1}));
  NodeId t = b.Input("t", F32({C, 1, 1}));
  NodeId u = b.Input("u", F32({}));
  graph.outputs = {{"y", b.Mul(b.Relu(b.Add(b.Mul(x, s), t)), u)}};
  ASSERT_TRUE(b.status().ok()) << b.status();
  auto runner = Compile(std::move(graph));
  ASSERT_NE(runner, nullptr);
  EXPECT_EQ(Fusion(*runner), std::vector<std::string>{"loop: mul add relu mul"});
  std::vector<double> xs = Random(N * C * H * W, 30), ss = Random(C, 31), ts = Random(C, 32);
  std::vector<double> us = {1.5};
  Set(*runner, "x", xs);
  Set(*runner, "s", ss);
  Set(*runner, "t", ts);
  Set(*runner, "u", us);
  ASSERT_TRUE(runner->Run().ok());
  std::vector<double> want(xs.size());
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t i = 0; i < H * W; ++i) {
        int64_t at = (n * C + c) * H * W + i;
        want[at] = std::max(0.0, xs[at] * ss[c] + ts[c]) * us[0];
      }
    }
  }
  ExpectClose(Read(*runner, "y"), want);
}

TEST(FusedKernelTest, ChannelAffineMergesTrailingDims) { ChannelAffine(2, 3, 3, 3); }
TEST(FusedKernelTest, ChannelAffineMergesTrailingDimsThreaded) { ChannelAffine(64, 8, 6, 7); }

// x * y + z over [A,B,3,3] with z [1,1,1,1]: every value spans all dims or is one element, so
// the kernel is one loop per task (a conv weight's optimizer update has this form).
void WholeTensorElementwise(int64_t A, int64_t B) {
  Graph graph;
  ir::GraphBuilder b(graph);
  NodeId x = b.Input("x", F32({A, B, 3, 3}));
  NodeId y = b.Input("y", F32({A, B, 3, 3}));
  NodeId z = b.Input("z", F32({1, 1, 1, 1}));
  graph.outputs = {{"out", b.Add(b.Mul(x, y), z)}};
  ASSERT_TRUE(b.status().ok()) << b.status();
  auto runner = Compile(std::move(graph));
  ASSERT_NE(runner, nullptr);
  std::vector<double> xs = Random(A * B * 9, 33), ys = Random(A * B * 9, 34), zs = {0.25};
  Set(*runner, "x", xs);
  Set(*runner, "y", ys);
  Set(*runner, "z", zs);
  ASSERT_TRUE(runner->Run().ok());
  std::vector<double> want(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) want[i] = xs[i] * ys[i] + zs[0];
  ExpectClose(Read(*runner, "out"), want);
}

TEST(FusedKernelTest, WholeTensorElementwise) { WholeTensorElementwise(5, 4); }
TEST(FusedKernelTest, WholeTensorElementwiseThreaded) { WholeTensorElementwise(64, 32); }

// x + iota along dim 2 of [A,B,C,D]: iota reads its coordinates, so the kernel keeps the whole
// nest (merging C and D would hand it a merged index instead of its own coordinate).
TEST(FusedKernelTest, CoordinateReadingOpKeepsTheNest) {
  constexpr int64_t A = 3, B = 2, C = 4, D = 5;
  Graph graph;
  ir::GraphBuilder b(graph);
  NodeId x = b.Input("x", F32({A, B, C, D}));
  graph.outputs = {{"y", b.Add(x, b.Iota({A, B, C, D}, 2, DType::kF32))}};
  ASSERT_TRUE(b.status().ok()) << b.status();
  auto runner = Compile(std::move(graph));
  ASSERT_NE(runner, nullptr);
  std::vector<double> xs = Random(A * B * C * D, 35);
  Set(*runner, "x", xs);
  ASSERT_TRUE(runner->Run().ok());
  std::vector<double> want(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) want[i] = xs[i] + static_cast<double>((i / D) % C);
  ExpectClose(Read(*runner, "y"), want);
}

// transpose(x, [2,0,1]) - z: the transpose is an index map read inside the subtraction's loop.
void TransposeRead(int64_t A, int64_t B, int64_t C) {
  Graph graph;
  ir::GraphBuilder b(graph);
  NodeId x = b.Input("x", F32({A, B, C}));
  NodeId z = b.Input("z", F32({C, A, B}));
  graph.outputs = {{"y", b.Sub(b.Transpose(x, {2, 0, 1}), z)}};
  ASSERT_TRUE(b.status().ok()) << b.status();
  auto runner = Compile(std::move(graph));
  ASSERT_NE(runner, nullptr);
  EXPECT_EQ(Fusion(*runner), std::vector<std::string>{"loop: transpose sub"});
  std::vector<double> xs = Random(A * B * C, 17), zs = Random(A * B * C, 18);
  Set(*runner, "x", xs);
  Set(*runner, "z", zs);
  ASSERT_TRUE(runner->Run().ok());
  std::vector<double> want(A * B * C);
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t a = 0; a < A; ++a) {
      for (int64_t i = 0; i < B; ++i) {
        int64_t out = (c * A + a) * B + i;
        want[out] = xs[(a * B + i) * C + c] - zs[out];
      }
    }
  }
  ExpectClose(Read(*runner, "y"), want, 1e-6);  // One f32 rounding of the difference.
}

TEST(FusedKernelTest, TransposeRead) { TransposeRead(6, 9, 5); }
TEST(FusedKernelTest, TransposeReadThreaded) { TransposeRead(30, 41, 17); }

// concat of buffers along dim 1 of [outer, s_k, inner] operands: a kernel of copied runs
// (OpDef::copy_runs), one per operand and outer index; bit-exact, and split across threads when
// large (a data-parallel gradient bucket is the 1-D case, outer = inner = 1).
void ConcatOfBuffers(int64_t outer, const std::vector<int64_t>& sizes, int64_t inner) {
  Graph graph;
  ir::GraphBuilder b(graph);
  std::vector<NodeId> parts;
  for (size_t k = 0; k < sizes.size(); ++k) {
    parts.push_back(b.Input(absl::StrCat("x", k), F32({outer, sizes[k], inner})));
  }
  graph.outputs = {{"y", b.Op("concat", parts, {{"dim", int64_t{1}}})}};
  ASSERT_TRUE(b.status().ok()) << b.status();
  auto runner = Compile(std::move(graph));
  ASSERT_NE(runner, nullptr);
  EXPECT_EQ(Fusion(*runner), std::vector<std::string>{"loop: concat"});
  std::vector<std::vector<double>> xs;
  for (size_t k = 0; k < sizes.size(); ++k) {
    xs.push_back(Random(outer * sizes[k] * inner, 30 + static_cast<uint32_t>(k)));
    Set(*runner, absl::StrCat("x", k), xs.back());
  }
  ASSERT_TRUE(runner->Run().ok());
  std::vector<double> want;
  for (int64_t o = 0; o < outer; ++o) {
    for (size_t k = 0; k < sizes.size(); ++k) {
      const int64_t block = sizes[k] * inner;
      want.insert(want.end(), xs[k].begin() + o * block, xs[k].begin() + (o + 1) * block);
    }
  }
  ExpectClose(Read(*runner, "y"), want, 0.0);
}

TEST(FusedKernelTest, ConcatOfBuffersIsCopies) { ConcatOfBuffers(3, {2, 5, 1}, 4); }
TEST(FusedKernelTest, ConcatOfBuffersIsCopiesThreaded) {
  ConcatOfBuffers(1, {200704, 256, 32768, 256, 2560, 10}, 1);
}
// Too many runs for copies (outer x operands > 64): the per-element loop, same values.
TEST(FusedKernelTest, ConcatOfManyRunsKeepsTheLoop) { ConcatOfBuffers(40, {3, 2}, 5); }

// argmax(-x) along the last dim on small integers, so ties are common: the first maximum wins.
void Argmax(int64_t rows, int64_t cols) {
  Graph graph;
  ir::GraphBuilder b(graph);
  NodeId x = b.Input("x", F32({rows, cols}));
  graph.outputs = {{"i", b.ArgMax(b.Neg(x), 1)}};
  ASSERT_TRUE(b.status().ok()) << b.status();
  auto runner = Compile(std::move(graph));
  ASSERT_NE(runner, nullptr);
  EXPECT_EQ(Fusion(*runner), std::vector<std::string>{"reduction: neg argmax"});
  std::mt19937 rng(19);
  std::uniform_int_distribution<int> small(-3, 3);
  std::vector<double> xs(rows * cols);
  for (double& v : xs) v = small(rng);
  Set(*runner, "x", xs);
  ASSERT_TRUE(runner->Run().ok());
  std::vector<double> want(rows);
  for (int64_t i = 0; i < rows; ++i) {
    int64_t best = 0;
    for (int64_t j = 1; j < cols; ++j) {
      if (-xs[i * cols + j] > -xs[i * cols + best]) best = j;
    }
    want[i] = static_cast<double>(best);
  }
  EXPECT_EQ(Read(*runner, "i"), want);
}

TEST(FusedKernelTest, ArgmaxFirstMaximumWins) { Argmax(37, 13); }
TEST(FusedKernelTest, ArgmaxThreaded) { Argmax(2000, 10); }

// argmax of x [n, r, c, k] over dims {1, 2} (max_pool2d's windows): the first maximum in
// row-major (r, c) order, as the index r * C + c; small integers, so ties are common.
TEST(FusedKernelTest, ArgmaxOverTwoDimsIsTheRowMajorPosition) {
  constexpr int64_t n = 5, rows = 3, cols = 4, k = 6;
  Graph graph;
  ir::GraphBuilder b(graph);
  NodeId x = b.Input("x", F32({n, rows, cols, k}));
  graph.outputs = {{"i", b.Op("argmax", {x}, {{"dims", std::vector<int64_t>{1, 2}},
                                               {"keepdim", int64_t{0}}})}};
  ASSERT_TRUE(b.status().ok()) << b.status();
  auto runner = Compile(std::move(graph));
  ASSERT_NE(runner, nullptr);
  std::mt19937 rng(23);
  std::uniform_int_distribution<int> small(-2, 2);
  std::vector<double> xs(n * rows * cols * k);
  for (double& v : xs) v = small(rng);
  Set(*runner, "x", xs);
  ASSERT_TRUE(runner->Run().ok());
  std::vector<double> want(n * k);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t c = 0; c < k; ++c) {
      auto at = [&](int64_t p) { return xs[((i * rows + p / cols) * cols + p % cols) * k + c]; };
      int64_t best = 0;
      for (int64_t p = 1; p < rows * cols; ++p) {
        if (at(p) > at(best)) best = p;
      }
      want[i * k + c] = static_cast<double>(best);
    }
  }
  EXPECT_EQ(Read(*runner, "i"), want);
}

// argmax over a leading or middle dim of [d0, d1, d2] (keepdim on the middle one), ties common.
void ArgmaxAlong(int64_t dim, const std::vector<int64_t>& shape) {
  Graph graph;
  ir::GraphBuilder b(graph);
  NodeId x = b.Input("x", F32(shape));
  graph.outputs = {{"i", b.Op("argmax", {x},
                              {{"dims", std::vector<int64_t>{dim}}, {"keepdim", int64_t{dim == 1}}})}};
  ASSERT_TRUE(b.status().ok()) << b.status();
  auto runner = Compile(std::move(graph));
  ASSERT_NE(runner, nullptr);
  std::mt19937 rng(23);
  std::uniform_int_distribution<int> small(-3, 3);
  std::vector<double> xs(shape[0] * shape[1] * shape[2]);
  for (double& v : xs) v = small(rng);
  Set(*runner, "x", xs);
  ASSERT_TRUE(runner->Run().ok());
  // Output element (a, c) of the two kept dims, in row-major order.
  std::vector<double> want;
  std::vector<int64_t> kept;
  for (int64_t d = 0; d < 3; ++d) {
    if (d != dim) kept.push_back(d);
  }
  for (int64_t a = 0; a < shape[kept[0]]; ++a) {
    for (int64_t c = 0; c < shape[kept[1]]; ++c) {
      auto at = [&](int64_t k) {
        int64_t coords[3];
        coords[dim] = k;
        coords[kept[0]] = a;
        coords[kept[1]] = c;
        return xs[(coords[0] * shape[1] + coords[1]) * shape[2] + coords[2]];
      };
      int64_t best = 0;
      for (int64_t k = 1; k < shape[dim]; ++k) {
        if (at(k) > at(best)) best = k;
      }
      want.push_back(static_cast<double>(best));
    }
  }
  EXPECT_EQ(Read(*runner, "i"), want);
}

TEST(FusedKernelTest, ArgmaxAlongTheLeadingDim) { ArgmaxAlong(0, {7, 5, 3}); }
TEST(FusedKernelTest, ArgmaxAlongAMiddleDimThreaded) { ArgmaxAlong(1, {600, 9, 4}); }

// Two graph outputs that are one node (here after CSE merges relu(x) twice) must both be
// readable by their own names.
TEST(FusedKernelTest, TwoOutputNamesForOneNodeAreBothReadable) {
  Graph graph;
  ir::GraphBuilder b(graph);
  NodeId x = b.Input("x", F32({4}));
  graph.outputs = {{"a", b.Relu(x)}, {"b", b.Relu(x)}};
  auto runner = Compile(std::move(graph));
  ASSERT_NE(runner, nullptr);
  Set(*runner, "x", {-1, 2, -3, 4});
  ASSERT_TRUE(runner->Run().ok());
  EXPECT_EQ(Read(*runner, "a"), (std::vector<double>{0, 2, 0, 4}));
  EXPECT_EQ(Read(*runner, "b"), (std::vector<double>{0, 2, 0, 4}));
}

}  // namespace
}  // namespace kiln::cpu
