// PlanMemory: buffer kinds, aliasing, in-place updates, and arena reuse that never lets two live
// values share bytes. Liveness is recomputed here from the kernel lists, independently of the
// planner, and checked pairwise over randomized graphs.
#include "passes/plan_memory.h"

#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "ir/graph_builder.h"
#include "ir/op_registry.h"
#include "ir/printer.h"

namespace kiln::passes {
namespace {

using ir::BufferAssignment;
using ir::BufferKind;
using ir::DType;
using ir::Graph;
using ir::GraphBuilder;
using ir::Kernel;
using ir::NodeId;
using ir::TensorType;

constexpr int kForever = 1 << 30;

bool IsBoundLeaf(const Graph& graph, NodeId id) {
  const ir::OpDef& def = ir::OpOf(graph.node(id));
  return def.Has(ir::kLeaf) && !def.Has(ir::kElementwise);
}
bool IsAlias(const Graph& graph, NodeId id) { return ir::OpOf(graph.node(id)).Has(ir::kAlias); }
bool IsConstant(const Graph& graph, NodeId id) { return graph.node(id).op == "constant"; }

// One kernel per computing node, in graph order; constants are computed inline.
std::vector<Kernel> OneKernelPerNode(const Graph& graph) {
  std::vector<Kernel> kernels;
  for (const ir::Node& node : graph.nodes()) {
    if (IsBoundLeaf(graph, node.id) || IsAlias(graph, node.id) || IsConstant(graph, node.id)) {
      continue;
    }
    Kernel kernel;
    kernel.name = absl::StrCat("k", node.id, "_", node.op.name());
    const ir::OpDef& def = ir::OpOf(node);
    kernel.kind = def.Has(ir::kContraction) ? ir::KernelKind::kMatmul
                  : def.Has(ir::kReduction) ? ir::KernelKind::kReduction
                                            : ir::KernelKind::kLoop;
    kernel.root = node.id;
    for (NodeId operand : node.operands) {
      if (IsConstant(graph, operand)) {
        kernel.nodes.push_back(operand);
      } else {
        kernel.inputs.push_back(operand);
      }
    }
    kernel.nodes.push_back(node.id);
    kernel.outputs.push_back(node.id);
    kernels.push_back(kernel);
  }
  return kernels;
}

BufferAssignment Plan(const Graph& graph, const std::vector<Kernel>& kernels) {
  absl::StatusOr<BufferAssignment> plan = PlanMemory(graph, kernels);
  EXPECT_TRUE(plan.ok()) << plan.status() << "\n" << ir::PrintGraph(graph);
  if (!plan.ok()) return {};
  EXPECT_EQ(plan->node_buffer.size(), static_cast<size_t>(graph.size()));
  return *std::move(plan);
}

NodeId AliasRoot(const Graph& graph, NodeId id) {
  while (IsAlias(graph, id)) id = graph.node(id).operands[0];
  return id;
}

struct Interval {
  int first;
  int last;
};

// Liveness of every arena buffer from the kernel lists alone: from the kernel writing its node to
// the last kernel reading it (or an alias of it), forever if it is an output.
std::vector<Interval> IndependentLifetimes(const Graph& graph, const std::vector<Kernel>& kernels,
                                           const BufferAssignment& plan) {
  std::vector<int> writer(graph.size(), -1), last_reader(graph.size(), -1);
  std::vector<bool> is_output(graph.size(), false);
  for (int k = 0; k < static_cast<int>(kernels.size()); ++k) {
    for (NodeId id : kernels[k].outputs) writer[id] = k;
    for (NodeId id : kernels[k].inputs) {
      last_reader[AliasRoot(graph, id)] = std::max(last_reader[AliasRoot(graph, id)], k);
    }
  }
  for (const auto& [name, id] : graph.outputs) is_output[AliasRoot(graph, id)] = true;
  std::vector<Interval> lifetimes;
  for (const ir::Buffer& b : plan.buffers) {
    NodeId d = b.defined_by;
    int first = writer[d];
    lifetimes.push_back({first, is_output[d] ? kForever : std::max(first, last_reader[d])});
  }
  return lifetimes;
}

bool InArena(const ir::Buffer& b) {
  return b.kind == BufferKind::kTemp || b.kind == BufferKind::kOutput;
}

// No two arena buffers that are live at the same kernel share a byte; all are 64-byte aligned and
// inside the arena.
void ExpectNoLiveOverlap(const Graph& graph, const std::vector<Kernel>& kernels,
                         const BufferAssignment& plan) {
  std::vector<Interval> live = IndependentLifetimes(graph, kernels, plan);
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const ir::Buffer& a = plan.buffers[i];
    if (!InArena(a)) continue;
    EXPECT_EQ(a.offset % 64, 0) << a.name;
    EXPECT_LE(a.offset + a.type.bytes(), plan.arena_bytes) << a.name;
    for (size_t j = i + 1; j < plan.buffers.size(); ++j) {
      const ir::Buffer& b = plan.buffers[j];
      if (!InArena(b) || a.type.bytes() == 0 || b.type.bytes() == 0) continue;
      bool live_together = live[i].first <= live[j].last && live[j].first <= live[i].last;
      bool share_bytes =
          a.offset < b.offset + b.type.bytes() && b.offset < a.offset + a.type.bytes();
      EXPECT_FALSE(live_together && share_bytes)
          << a.name << " [" << live[i].first << "," << live[i].last << "] @" << a.offset << " and "
          << b.name << " [" << live[j].first << "," << live[j].last << "] @" << b.offset << "\n"
          << DescribeMemoryPlan(plan);
    }
  }
}

TEST(PlanMemoryTest, ChainOfKernelsReusesBuffers) {
  Graph graph;
  GraphBuilder b(graph);
  NodeId x = b.Input("x", {DType::kF32, {256}});  // 1 KiB per value.
  NodeId v = x;
  for (int i = 0; i < 6; ++i) v = i % 2 ? b.Exp(v) : b.Relu(v);
  ASSERT_TRUE(b.status().ok());
  graph.outputs.push_back({"y", v});
  std::vector<Kernel> kernels = OneKernelPerNode(graph);
  BufferAssignment plan = Plan(graph, kernels);
  // Five temps and the output, but only a value and its consumer's result are live at once.
  EXPECT_EQ(plan.unshared_bytes, 6 * 1024);
  EXPECT_EQ(plan.arena_bytes, 2 * 1024);
  EXPECT_LT(plan.arena_bytes, plan.unshared_bytes);
  ExpectNoLiveOverlap(graph, kernels, plan);
  EXPECT_EQ(plan.buffers[plan.node_buffer[x]].kind, BufferKind::kInput);
  EXPECT_EQ(plan.buffers[plan.node_buffer[x]].name, "x");
  EXPECT_EQ(plan.buffers[plan.node_buffer[v]].kind, BufferKind::kOutput);
  EXPECT_EQ(plan.buffers[plan.node_buffer[v]].name, "y");
}

TEST(PlanMemoryTest, KernelInputAndOutputNeverShare) {
  // Freed by kernel i means reusable from kernel i+1 on: relu's input dies in relu's kernel, but
  // relu must not write over it while reading it.
  Graph graph;
  GraphBuilder b(graph);
  NodeId x = b.Input("x", {DType::kF32, {16}});
  NodeId e = b.Exp(x);
  NodeId r = b.Relu(e);
  NodeId n = b.Neg(r);
  graph.outputs.push_back({"y", n});
  std::vector<Kernel> kernels = OneKernelPerNode(graph);
  BufferAssignment plan = Plan(graph, kernels);
  EXPECT_NE(plan.buffers[plan.node_buffer[e]].offset, plan.buffers[plan.node_buffer[r]].offset);
  EXPECT_EQ(plan.buffers[plan.node_buffer[e]].offset, plan.buffers[plan.node_buffer[n]].offset);
}

TEST(PlanMemoryTest, OutputsAreNeverOverwrittenByLaterValues) {
  Graph graph;
  GraphBuilder b(graph);
  NodeId x = b.Input("x", {DType::kF32, {64}});
  NodeId early = b.Exp(x);
  NodeId v = early;
  for (int i = 0; i < 5; ++i) v = b.Relu(b.Neg(v));
  graph.outputs.push_back({"early", early});
  graph.outputs.push_back({"late", v});
  std::vector<Kernel> kernels = OneKernelPerNode(graph);
  BufferAssignment plan = Plan(graph, kernels);
  const ir::Buffer& out = plan.buffers[plan.node_buffer[early]];
  EXPECT_EQ(out.kind, BufferKind::kOutput);
  EXPECT_EQ(out.name, "early");
  for (const ir::Buffer& other : plan.buffers) {
    if (&other == &out || !InArena(other)) continue;
    EXPECT_TRUE(other.offset >= out.offset + 256 || other.offset + 256 <= out.offset)
        << other.name << " overlaps the output\n"
        << DescribeMemoryPlan(plan);
  }
  ExpectNoLiveOverlap(graph, kernels, plan);
}

TEST(PlanMemoryTest, AliasesShareTheirRootBuffer) {
  Graph graph;
  GraphBuilder b(graph);
  NodeId x = b.Input("x", {DType::kF32, {4, 8}});
  NodeId e = b.Exp(x);
  NodeId flat = b.Reshape(e, {32});
  NodeId r = b.Relu(flat);
  NodeId n = b.Neg(r);
  NodeId x_flat = b.Reshape(x, {32});
  NodeId s = b.Add(n, x_flat);
  ASSERT_TRUE(b.status().ok());
  graph.outputs.push_back({"y", s});
  std::vector<Kernel> kernels = OneKernelPerNode(graph);
  BufferAssignment plan = Plan(graph, kernels);
  EXPECT_EQ(plan.node_buffer[flat], plan.node_buffer[e]);
  EXPECT_EQ(plan.node_buffer[x_flat], plan.node_buffer[x]);
  EXPECT_EQ(plan.buffers[plan.node_buffer[x_flat]].kind, BufferKind::kInput);
  // relu reads exp's buffer through the reshape, so it must not write over it.
  EXPECT_NE(plan.buffers[plan.node_buffer[r]].offset, plan.buffers[plan.node_buffer[e]].offset);
  ExpectNoLiveOverlap(graph, kernels, plan);
}

TEST(PlanMemoryTest, AliasOutputKeepsItsRootAlive) {
  Graph graph;
  GraphBuilder b(graph);
  NodeId x = b.Input("x", {DType::kF32, {4, 8}});
  NodeId e = b.Exp(x);
  NodeId flat = b.Reshape(e, {32});
  NodeId v = x;
  for (int i = 0; i < 4; ++i) v = b.Relu(b.Neg(v));
  graph.outputs.push_back({"flat", flat});
  graph.outputs.push_back({"v", v});
  std::vector<Kernel> kernels = OneKernelPerNode(graph);
  BufferAssignment plan = Plan(graph, kernels);
  ASSERT_EQ(plan.node_buffer[flat], plan.node_buffer[e]);
  const ir::Buffer& root = plan.buffers[plan.node_buffer[e]];
  EXPECT_EQ(root.kind, BufferKind::kOutput);
  EXPECT_EQ(root.name, "flat");
  ExpectNoLiveOverlap(graph, kernels, plan);
}

TEST(PlanMemoryTest, UpdateIsWrittenInPlaceAndConstantsStayInline) {
  Graph graph;
  GraphBuilder b(graph);
  NodeId w = b.Parameter("w", {DType::kF32, {8}}, {{"init", std::string("constant")}});
  NodeId g = b.Input("g", {DType::kF32, {8}});
  NodeId lr = b.Scalar(0.1);
  NodeId step = b.Mul(g, lr);
  NodeId w_new = b.Sub(w, step);
  NodeId loss = b.ReduceSum(b.Mul(w, w), {0});
  ASSERT_TRUE(b.status().ok());
  graph.outputs.push_back({"loss", loss});
  graph.updates.push_back({w, w_new});
  // The loss reads w before the update kernel overwrites it.
  std::vector<Kernel> kernels = OneKernelPerNode(graph);
  std::stable_partition(kernels.begin(), kernels.end(),
                        [&](const Kernel& k) { return k.root != w_new; });
  BufferAssignment plan = Plan(graph, kernels);
  ASSERT_GE(plan.node_buffer[w], 0);
  EXPECT_EQ(plan.node_buffer[w_new], plan.node_buffer[w]);
  EXPECT_EQ(plan.buffers[plan.node_buffer[w]].kind, BufferKind::kPersistent);
  EXPECT_EQ(plan.buffers[plan.node_buffer[w]].name, "w");
  EXPECT_EQ(plan.node_buffer[lr], -1);
  EXPECT_EQ(plan.buffers[plan.node_buffer[step]].kind, BufferKind::kTemp);
  ExpectNoLiveOverlap(graph, kernels, plan);
}

TEST(PlanMemoryTest, RejectsReadingAParameterAfterItsUpdate) {
  Graph graph;
  GraphBuilder b(graph);
  NodeId w = b.Parameter("w", {DType::kF32, {8}}, {{"init", std::string("constant")}});
  NodeId w_new = b.Neg(w);
  NodeId late_read = b.Exp(w);
  graph.outputs.push_back({"y", late_read});
  graph.updates.push_back({w, w_new});
  absl::StatusOr<BufferAssignment> plan = PlanMemory(graph, OneKernelPerNode(graph));
  ASSERT_FALSE(plan.ok());
  EXPECT_TRUE(absl::StrContains(plan.status().message(), "reads 'w' after kernel 'k1_neg'"))
      << plan.status();
}

TEST(PlanMemoryTest, RejectsKernelListsThatCannotRun) {
  Graph graph;
  GraphBuilder b(graph);
  NodeId x = b.Input("x", {DType::kF32, {8}});
  NodeId c = b.Constant(2.0, {DType::kF32, {8}});
  NodeId e = b.Exp(x);
  NodeId m = b.Mul(e, c);
  graph.outputs.push_back({"y", m});

  std::vector<Kernel> reversed = OneKernelPerNode(graph);
  std::reverse(reversed.begin(), reversed.end());
  absl::StatusOr<BufferAssignment> plan = PlanMemory(graph, reversed);
  EXPECT_TRUE(absl::StrContains(plan.status().message(), "before kernel 'k2_exp' writes it"))
      << plan.status();

  std::vector<Kernel> reads_constant = OneKernelPerNode(graph);
  reads_constant[1].inputs = {e, c};
  plan = PlanMemory(graph, reads_constant);
  EXPECT_TRUE(absl::StrContains(plan.status().message(), "no kernel writes to memory"))
      << plan.status();

  std::vector<Kernel> missing_output = OneKernelPerNode(graph);
  missing_output.pop_back();
  plan = PlanMemory(graph, missing_output);
  EXPECT_TRUE(absl::StrContains(plan.status().message(), "output 'y' is never written"))
      << plan.status();
}

TEST(PlanMemoryTest, DescribeListsBuffersAndThePeak) {
  Graph graph;
  GraphBuilder b(graph);
  NodeId x = b.Input("x", {DType::kF32, {2, 3}});
  NodeId y = b.Relu(b.Exp(x));
  graph.outputs.push_back({"y", y});
  BufferAssignment plan = Plan(graph, OneKernelPerNode(graph));
  std::string text = DescribeMemoryPlan(plan);
  EXPECT_TRUE(absl::StrContains(text, "input \"x\" f32[2,3] 24 bytes")) << text;
  EXPECT_TRUE(absl::StrContains(text, "temp \"t1\" f32[2,3] 24 bytes at ")) << text;
  EXPECT_TRUE(absl::StrContains(text, "output \"y\" f32[2,3] 24 bytes at ")) << text;
  EXPECT_TRUE(absl::StrContains(text, "planned peak 128 bytes vs 128 without reuse")) << text;
}

// A random training-step-like graph: elementwise chains, reductions, transposes, reshapes
// (aliases), matmuls, outputs, and parameter updates computed last.
Graph RandomGraph(uint32_t seed) {
  std::mt19937 rng(seed);
  auto pick = [&rng](const std::vector<NodeId>& from) {
    return from[std::uniform_int_distribution<size_t>(0, from.size() - 1)(rng)];
  };
  Graph graph;
  GraphBuilder b(graph);
  const int64_t rows = 8 + 8 * (seed % 3), cols = 16;
  std::vector<NodeId> mats = {b.Input("x", {DType::kF32, {rows, cols}})};
  std::vector<NodeId> transposed, vecs;
  std::vector<NodeId> params;
  for (int p = 0; p < 3; ++p) {
    params.push_back(b.Parameter(absl::StrCat("p", p), {DType::kF32, {rows, cols}},
                                 {{"init", std::string("constant")}}));
    mats.push_back(params.back());
  }
  NodeId half = b.Scalar(0.5);
  int steps = 20 + static_cast<int>(rng() % 30);
  for (int i = 0; i < steps; ++i) {
    switch (rng() % 8) {
      case 0:
        mats.push_back(b.Exp(pick(mats)));
        break;
      case 1:
        mats.push_back(b.Add(pick(mats), pick(mats)));
        break;
      case 2:
        mats.push_back(b.Mul(pick(mats), half));
        break;
      case 3:
        vecs.push_back(b.ReduceSum(pick(mats), {1}));
        break;
      case 4:
        transposed.push_back(b.Transpose(pick(mats), {1, 0}));
        break;
      case 5:
        mats.push_back(b.Reshape(b.Reshape(pick(mats), {rows * cols}), {rows, cols}));
        break;
      case 6:
        if (!transposed.empty()) {
          NodeId square = b.MatMul(pick(mats), pick(transposed));  // [rows, rows]
          mats.push_back(b.MatMul(square, pick(mats)));            // [rows, cols]
        }
        break;
      default:
        mats.push_back(b.Relu(pick(mats)));
        break;
    }
  }
  // Outputs are computed values (or aliases of them), never the leaves themselves.
  std::vector<NodeId> computed = vecs;
  for (NodeId m : mats) {
    if (!IsBoundLeaf(graph, AliasRoot(graph, m))) computed.push_back(m);
  }
  for (int o = 0; o < 3 && !computed.empty(); ++o) {
    graph.outputs.push_back({absl::StrCat("out", o), pick(computed)});
  }
  // Each update reads only its own parameter after everything else is computed.
  std::vector<NodeId> deltas;
  for (size_t p = 0; p < params.size(); ++p) deltas.push_back(b.Mul(pick(mats), half));
  for (size_t p = 0; p < params.size(); ++p) {
    graph.updates.push_back({params[p], b.Sub(params[p], deltas[p])});
  }
  EXPECT_TRUE(b.status().ok()) << b.status();
  return graph;
}

TEST(PlanMemoryTest, RandomGraphsNeverOverlapLiveBuffers) {
  for (uint32_t seed = 0; seed < 60; ++seed) {
    SCOPED_TRACE(seed);
    Graph graph = RandomGraph(seed);
    std::vector<Kernel> kernels = OneKernelPerNode(graph);
    BufferAssignment plan = Plan(graph, kernels);
    ExpectNoLiveOverlap(graph, kernels, plan);
    EXPECT_LE(plan.arena_bytes, plan.unshared_bytes);
    for (const ir::Update& u : graph.updates) {
      EXPECT_EQ(plan.node_buffer[u.value], plan.node_buffer[u.target]);
    }
    for (const Kernel& k : kernels) {
      for (NodeId in : k.inputs) {
        EXPECT_EQ(plan.node_buffer[in], plan.node_buffer[AliasRoot(graph, in)]);
        EXPECT_GE(plan.node_buffer[in], 0);
      }
      for (NodeId out : k.outputs) EXPECT_GE(plan.node_buffer[out], 0);
    }
    for (const auto& [name, id] : graph.outputs) {
      EXPECT_EQ(plan.buffers[plan.node_buffer[id]].kind, BufferKind::kOutput);
    }
  }
}

}  // namespace
}  // namespace kiln::passes
