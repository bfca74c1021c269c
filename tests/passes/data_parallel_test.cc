// The data-parallel pass: gradients packed into all_reduce buckets of bounded size and split
// back; a collective is a kernel of its own; and at world size 1 a data-parallel training step
// of examples/fashion_mlp.kiln computes bit for bit the losses and parameters of the ordinary one.
#include "passes/data_parallel.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "frontend/frontend.h"
#include "gtest/gtest.h"
#include "ir/graph_builder.h"
#include "ir/op_registry.h"
#include "ir/verifier.h"
#include "passes/fuse_kernels.h"
#include "passes/optimizers.h"
#include "passes/training_step.h"
#include "runtime/communicator.h"
#include "tools/graph_runner.h"

namespace kiln::passes {
namespace {

using ir::DType;
using ir::Graph;
using ir::NodeId;
using ir::TensorType;

std::vector<NodeId> NodesOf(const Graph& graph, const std::string& op) {
  std::vector<NodeId> ids;
  for (const ir::Node& n : graph.nodes()) {
    if (n.op.name() == op) ids.push_back(n.id);
  }
  return ids;
}

// Three gradient-shaped values of 100, 100 and 300 floats.
struct ThreeGradients {
  Graph graph;
  std::vector<NodeId> grads;
};

ThreeGradients MakeGradients() {
  ThreeGradients t;
  ir::GraphBuilder b(t.graph);
  t.grads = {b.Input("a", TensorType{DType::kF32, {10, 10}}),
             b.Input("b", TensorType{DType::kF32, {100}}),
             b.Input("c", TensorType{DType::kF32, {3, 10, 10}})};
  return t;
}

TEST(DataParallelTest, PacksGradientsIntoBucketsOfBoundedSize) {
  ThreeGradients t = MakeGradients();
  // 800 bytes hold a and b (400 each) but not c (1200), which gets a bucket of its own.
  absl::StatusOr<std::vector<NodeId>> reduced =
      AllReduceGradients(t.graph, t.grads, {.bucket_bytes = 800});
  ASSERT_TRUE(reduced.ok()) << reduced.status();
  ASSERT_TRUE(ir::VerifyGraph(t.graph).ok());
  std::vector<NodeId> all_reduces = NodesOf(t.graph, "all_reduce");
  ASSERT_EQ(all_reduces.size(), 2u);
  EXPECT_EQ(t.graph.node(all_reduces[0]).type, (TensorType{DType::kF32, {200}}));
  EXPECT_EQ(t.graph.node(all_reduces[1]).type, (TensorType{DType::kF32, {300}}));
  EXPECT_EQ(NodesOf(t.graph, "concat").size(), 1u);
  ASSERT_EQ(reduced->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NE((*reduced)[i], t.grads[i]);
    EXPECT_EQ(t.graph.node((*reduced)[i]).type, t.graph.node(t.grads[i]).type) << i;
  }
  // b, already flat, is the second half of the first bucket as it is (no reshape).
  const ir::Node& b_slice = t.graph.node((*reduced)[1]);
  EXPECT_EQ(b_slice.op.name(), "slice");
  EXPECT_EQ(b_slice.attrs.GetInts("starts"), (std::vector<int64_t>{100}));
  EXPECT_EQ(b_slice.attrs.GetInts("stops"), (std::vector<int64_t>{200}));
  EXPECT_EQ(b_slice.operands[0], all_reduces[0]);
}

TEST(DataParallelTest, DefaultBucketHoldsSmallGradientsTogether) {
  ThreeGradients t = MakeGradients();
  ASSERT_TRUE(AllReduceGradients(t.graph, t.grads).ok());
  std::vector<NodeId> all_reduces = NodesOf(t.graph, "all_reduce");
  ASSERT_EQ(all_reduces.size(), 1u);
  EXPECT_EQ(t.graph.node(all_reduces[0]).type, (TensorType{DType::kF32, {500}}));
}

// A gradient made of a constant (a parameter the loss does not reach) is the same on every rank.
TEST(DataParallelTest, LeavesGradientsEveryRankComputesAloneAsTheyAre) {
  Graph graph;
  ir::GraphBuilder b(graph);
  NodeId zero = b.Constant(0.0, TensorType{DType::kF32, {4}});
  absl::StatusOr<std::vector<NodeId>> reduced = AllReduceGradients(graph, std::vector{zero});
  ASSERT_TRUE(reduced.ok()) << reduced.status();
  EXPECT_EQ(*reduced, std::vector<NodeId>{zero});
  EXPECT_TRUE(NodesOf(graph, "all_reduce").empty());
}

TEST(DataParallelTest, RejectsABadBucketSizeAndNonFloatGradients) {
  ThreeGradients t = MakeGradients();
  EXPECT_EQ(AllReduceGradients(t.graph, t.grads, {.bucket_bytes = 0}).status().message(),
            "data parallel: bucket size must be positive, got 0");
  Graph graph;
  ir::GraphBuilder b(graph);
  NodeId labels = b.Input("y", TensorType{DType::kI64, {4}});
  EXPECT_EQ(AllReduceGradients(graph, std::vector{labels}).status().message(),
            "data parallel: gradient %0 is i64[4], not f32");
}

TEST(DataParallelTest, AllReduceTakesOnlyFlatF32) {
  Graph graph;
  ir::GraphBuilder b(graph);
  b.Op("all_reduce", {b.Input("x", TensorType{DType::kF32, {2, 3}})});
  EXPECT_NE(b.status().message().find("all_reduce takes a flat f32 tensor (f32[n]), not f32[2,3]"),
            std::string::npos)
      << b.status();
}

struct Example {
  Graph model;
  ir::TrainConfig train;
};

Example LoadFashionMlp(int64_t batch) {
  absl::StatusOr<frontend::ModelAst> ast = frontend::ParseModelFile("examples/fashion_mlp.kiln");
  EXPECT_TRUE(ast.ok()) << ast.status();
  if (!ast.ok()) return {};
  absl::StatusOr<Graph> model = frontend::LowerModel(*ast, {{"B", batch}});
  absl::StatusOr<ir::TrainConfig> train = frontend::LowerTrainConfig(*ast);
  EXPECT_TRUE(model.ok() && train.ok());
  if (!model.ok() || !train.ok()) return {};
  return {*std::move(model), *std::move(train)};
}

// The collective reads its bucket from memory and runs as a kernel of its own: nothing is
// fused into it and it is fused into nothing (a communicator needs the whole buffer).
TEST(DataParallelTest, AllReduceIsAKernelOfItsOwn) {
  Example ex = LoadFashionMlp(8);
  ex.train.data_parallel = true;
  absl::StatusOr<Graph> step = BuildTrainingStep(ex.model, ex.train);
  ASSERT_TRUE(step.ok()) << step.status();
  std::vector<NodeId> all_reduces = NodesOf(*step, "all_reduce");
  ASSERT_EQ(all_reduces.size(), 1u);
  absl::StatusOr<std::vector<ir::Kernel>> kernels = FuseKernels(*step);
  ASSERT_TRUE(kernels.ok()) << kernels.status();
  int found = 0;
  for (const ir::Kernel& k : *kernels) {
    if (std::find(k.nodes.begin(), k.nodes.end(), all_reduces[0]) == k.nodes.end()) continue;
    ++found;
    EXPECT_EQ(k.nodes, std::vector<NodeId>{all_reduces[0]}) << k.name;
  }
  EXPECT_EQ(found, 1);
}

// Deterministic values in [-0.05, 0.05) (parameters, images) or [0, classes) (labels).
std::vector<double> Pattern(int64_t n, int salt, double scale, int64_t classes = 0) {
  std::vector<double> values(n);
  uint32_t state = 2463534242u + salt;
  for (int64_t i = 0; i < n; ++i) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    values[i] = classes > 0 ? static_cast<double>(state % classes)
                            : scale * (static_cast<double>(state % 1000) / 1000.0 - 0.5);
  }
  return values;
}

struct Trajectory {
  std::vector<double> losses;
  std::vector<std::vector<double>> params;
};

Trajectory Train(const Example& ex, bool data_parallel, int steps) {
  ir::TrainConfig train = ex.train;
  train.data_parallel = data_parallel;
  absl::StatusOr<Graph> step = BuildTrainingStep(ex.model, train);
  EXPECT_TRUE(step.ok()) << step.status();
  if (!step.ok()) return {};
  const std::vector<NodeId> params = TrainableParameters(*step);
  std::vector<std::string> names;
  for (NodeId p : params) names.push_back(step->node(p).name);
  EXPECT_EQ(NodesOf(*step, "all_reduce").empty(), !data_parallel);
  auto runner = tools::GraphRunner::Compile(*std::move(step));
  EXPECT_TRUE(runner.ok()) << runner.status();
  if (!runner.ok()) return {};
  const int64_t batch = 8;
  EXPECT_TRUE((*runner)->Set("x", Pattern(batch * 784, 1, 2.0)).ok());
  EXPECT_TRUE((*runner)->Set("y", Pattern(batch, 2, 0, 10)).ok());
  EXPECT_TRUE((*runner)->Set(kLearningRateInput, {3e-3}).ok());
  for (size_t i = 0; i < names.size(); ++i) {
    absl::StatusOr<std::vector<double>> current = (*runner)->Read(names[i]);
    EXPECT_TRUE(current.ok()) << current.status();
    if (!current.ok()) return {};
    EXPECT_TRUE((*runner)->Set(names[i], Pattern(current->size(), 10 + i, 0.1)).ok());
  }
  Trajectory t;
  std::unique_ptr<runtime::Communicator> one_rank = runtime::MakeLocalCommunicator();
  for (int s = 0; s < steps; ++s) {
    // The data-parallel step's all_reduce goes through the runtime hook of a one-rank job.
    absl::Status ran = data_parallel ? (*runner)->RunWith(*one_rank) : (*runner)->Run();
    EXPECT_TRUE(ran.ok()) << ran;
    t.losses.push_back((*runner)->Read("loss")->at(0));
  }
  for (const std::string& name : names) t.params.push_back(*(*runner)->Read(name));
  return t;
}

TEST(DataParallelTest, OneRankTrainsBitForBitLikeNoDataParallelism) {
  Example ex = LoadFashionMlp(8);
  const Trajectory plain = Train(ex, /*data_parallel=*/false, 4);
  const Trajectory parallel = Train(ex, /*data_parallel=*/true, 4);
  ASSERT_EQ(plain.losses.size(), 4u);
  // The loss moves, so the steps do update the parameters through the all-reduced gradients.
  EXPECT_NE(plain.losses.front(), plain.losses.back());
  EXPECT_EQ(parallel.losses, plain.losses);  // Exact: the copies change no bit.
  ASSERT_EQ(parallel.params.size(), plain.params.size());
  for (size_t i = 0; i < plain.params.size(); ++i) EXPECT_EQ(parallel.params[i], plain.params[i]) << i;
}

// A stand-in for rank 0 of two whose peer holds zeros: the mean halves every element.
class HalvingCommunicator final : public runtime::Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 2; }
  int local_rank() const override { return 0; }
  std::string backend() const override { return "halving"; }
  absl::Status AllReduceMean(float* data, size_t count) override {
    ++calls;
    elements += static_cast<int64_t>(count);
    for (size_t i = 0; i < count; ++i) data[i] *= 0.5f;
    return absl::OkStatus();
  }
  absl::Status AllReduceSum(double*, size_t) override { return absl::OkStatus(); }
  absl::Status Broadcast(void*, size_t, int) override { return absl::OkStatus(); }
  absl::StatusOr<std::vector<std::string>> AllGather(const std::string& bytes) override {
    return std::vector<std::string>{bytes, bytes};
  }
  absl::Status Barrier() override { return absl::OkStatus(); }
  [[noreturn]] void Abort(int code) override { std::exit(code); }
  int calls = 0;
  int64_t elements = 0;
};

// Generated code computes the local value, then hands the all_reduce's buffer to the runtime's
// communicator through the KilnParallel table; without one it is the single-process identity.
TEST(DataParallelTest, GeneratedAllReduceCallsTheBoundCommunicator) {
  Graph graph;
  ir::GraphBuilder b(graph);
  NodeId x = b.Input("x", TensorType{DType::kF32, {6}});
  graph.outputs = {{"y", b.Op("all_reduce", {b.Mul(x, b.Scalar(2.0))})}};
  ASSERT_TRUE(b.status().ok()) << b.status();
  auto runner = tools::GraphRunner::Compile(std::move(graph));
  ASSERT_TRUE(runner.ok()) << runner.status();
  ASSERT_TRUE((*runner)->Set("x", {1, 2, 3, 4, 5, 6}).ok());
  const std::vector<double> local = {2, 4, 6, 8, 10, 12};

  ASSERT_TRUE((*runner)->Run().ok());
  EXPECT_EQ(*(*runner)->Read("y"), local);

  std::unique_ptr<runtime::Communicator> one = runtime::MakeLocalCommunicator();
  ASSERT_TRUE((*runner)->RunWith(*one).ok());
  EXPECT_EQ(*(*runner)->Read("y"), local);

  HalvingCommunicator two;
  ASSERT_TRUE((*runner)->RunWith(two).ok());
  EXPECT_EQ(*(*runner)->Read("y"), (std::vector<double>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(two.calls, 1);
  EXPECT_EQ(two.elements, 6);
}

}  // namespace
}  // namespace kiln::passes
