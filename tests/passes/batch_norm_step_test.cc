// Batch normalization in the step graphs: the training step writes the running statistics in
// place from the forward pass alone (no optimizer, weight decay, clipping or freezing touches
// them), the evaluation step normalizes with them and updates nothing, and both are persistent,
// non-trainable tensors (so checkpoints carry them). Numerically, the evaluation output is
// checked against the formula and shown not to depend on the rest of the batch.
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "frontend/frontend.h"
#include "gtest/gtest.h"
#include "ir/graph.h"
#include "ir/verifier.h"
#include "passes/optimizers.h"
#include "passes/training_step.h"
#include "tools/compile_pipeline.h"
#include "tools/graph_runner.h"

namespace kiln::passes {
namespace {

using ir::Graph;
using ir::NodeId;

constexpr char kExample[] = "examples/batchnorm_mlp.kiln";
const std::vector<std::string> kRunningStats = {"bn1.running_mean", "bn1.running_var",
                                                "bn2.running_mean", "bn2.running_var"};

struct Model {
  Graph graph;
  ir::TrainConfig train;
};

absl::StatusOr<Model> Load(const frontend::ModelAst& ast, int64_t batch) {
  absl::StatusOr<Graph> graph = frontend::LowerModel(ast, {{"B", batch}});
  if (!graph.ok()) return graph.status();
  absl::StatusOr<ir::TrainConfig> train = frontend::LowerTrainConfig(ast);
  if (!train.ok()) return train.status();
  return Model{*std::move(graph), *std::move(train)};
}

Model LoadExample(int64_t batch) {
  absl::StatusOr<frontend::ModelAst> ast = frontend::ParseModelFile(kExample);
  EXPECT_TRUE(ast.ok()) << ast.status();
  if (!ast.ok()) return {};
  absl::StatusOr<Model> model = Load(*ast, batch);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *std::move(model) : Model{};
}

// Ids of `root` and every node it depends on.
std::set<NodeId> Ancestors(const Graph& graph, NodeId root) {
  std::set<NodeId> seen = {root};
  std::vector<NodeId> stack = {root};
  while (!stack.empty()) {
    NodeId id = stack.back();
    stack.pop_back();
    for (NodeId operand : graph.node(id).operands) {
      if (seen.insert(operand).second) stack.push_back(operand);
    }
  }
  return seen;
}

// Update target name -> the update's value node.
std::map<std::string, NodeId> UpdateValues(const Graph& graph) {
  std::map<std::string, NodeId> values;
  for (const ir::Update& u : graph.updates) values[graph.node(u.target).name] = u.value;
  return values;
}

TEST(BatchNormStepTest, RunningStatsAreUpdatedFromTheForwardPassOnly) {
  Model model = LoadExample(16);
  // Everything that acts on parameters at once: weight decay, clipping, and bn1 frozen.
  model.train.optimizer.hparams["weight_decay"] = 0.01;
  model.train.clip_grad_norm = 1.0;
  model.train.clip_grad_value = 0.5;
  model.train.freeze = {{"bn1", {}}};
  absl::StatusOr<Graph> step = BuildTrainingStep(model.graph, model.train);
  ASSERT_TRUE(step.ok()) << step.status();
  ASSERT_TRUE(ir::VerifyGraph(*step).ok());

  std::map<std::string, NodeId> updates = UpdateValues(*step);
  const NodeId lr = step->FindByName(kLearningRateInput);
  const NodeId labels = step->FindByName("y");
  ASSERT_NE(lr, ir::kNoNode);
  for (const std::string& name : kRunningStats) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(updates.count(name));
    const ir::Node& target = step->node(step->FindByName(name));
    EXPECT_EQ(target.op, "state");
    // No optimizer state, gradient or learning rate: the value depends on the batch's features
    // but not on its labels (so not on the loss or any gradient) nor on the learning rate.
    std::set<NodeId> depends_on = Ancestors(*step, updates[name]);
    EXPECT_TRUE(depends_on.count(step->FindByName("x")));
    EXPECT_FALSE(depends_on.count(labels));
    EXPECT_FALSE(depends_on.count(lr));
    EXPECT_FALSE(updates.count(name + ".exp_avg"));
  }
  // bn1's affine parameters are frozen; bn2's train with Adam.
  EXPECT_FALSE(updates.count("bn1.weight"));
  EXPECT_FALSE(updates.count("bn1.bias"));
  EXPECT_TRUE(updates.count("bn2.weight"));
  EXPECT_TRUE(updates.count("bn2.bias.exp_avg"));

  // Persistent (checkpointed, shared with the evaluation step) but not trainable.
  std::map<std::string, bool> trainable;
  for (const runtime::PersistentSpec& spec : tools::PersistentTensors(*step)) {
    trainable[spec.name] = spec.trainable;
  }
  for (const std::string& name : kRunningStats) {
    ASSERT_TRUE(trainable.count(name)) << name;
    EXPECT_FALSE(trainable[name]) << name;
  }
  EXPECT_TRUE(trainable["bn2.weight"]);
}

TEST(BatchNormStepTest, EvalStepReadsRunningStatsAndUpdatesNothing) {
  Model model = LoadExample(16);
  absl::StatusOr<Graph> eval = BuildEvalStep(model.graph);
  ASSERT_TRUE(eval.ok()) << eval.status();
  ASSERT_TRUE(ir::VerifyGraph(*eval).ok());
  EXPECT_TRUE(eval->updates.empty());
  std::set<NodeId> loss_inputs = Ancestors(*eval, eval->Output(kLossOutput));
  for (const std::string& name : kRunningStats) {
    NodeId id = eval->FindByName(name);
    ASSERT_NE(id, ir::kNoNode) << name;
    EXPECT_TRUE(loss_inputs.count(id)) << "the evaluation loss does not read " << name;
  }
}

// One batch_norm1d layer on [4, 3] in evaluation: out = (x - mean) / sqrt(var + eps) * w + b
// per channel with the running statistics, whatever the other rows of the batch hold.
TEST(BatchNormStepTest, EvalOutputUsesRunningStatsNotTheBatch) {
  absl::StatusOr<frontend::ModelAst> ast = frontend::ParseModel(
      "model m {\n"
      "  input x: f32[4, 3]\n"
      "  out = batch_norm1d(x, eps=0.01, name=bn)\n"
      "  loss = reduce_sum(out)\n"
      "}\n",
      "m.kiln");
  ASSERT_TRUE(ast.ok()) << ast.status();
  absl::StatusOr<Graph> model = frontend::LowerModel(*ast, {});
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_NE(model->FindByName("bn"), ir::kNoNode);
  model->outputs.emplace_back("out", model->FindByName("bn"));
  absl::StatusOr<Graph> eval = BuildEvalStep(*model);
  ASSERT_TRUE(eval.ok()) << eval.status();
  auto runner = tools::GraphRunner::Compile(*std::move(eval));
  ASSERT_TRUE(runner.ok()) << runner.status();
  const std::vector<double> mean = {0.5, -1.0, 2.0}, var = {4.0, 0.25, 1.0};
  const std::vector<double> weight = {1.5, -0.5, 2.0}, bias = {0.1, 0.2, -0.3};
  ASSERT_TRUE((*runner)->Set("bn.running_mean", mean).ok());
  ASSERT_TRUE((*runner)->Set("bn.running_var", var).ok());
  ASSERT_TRUE((*runner)->Set("bn.weight", weight).ok());
  ASSERT_TRUE((*runner)->Set("bn.bias", bias).ok());
  std::vector<double> x = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  ASSERT_TRUE((*runner)->Set("x", x).ok());
  ASSERT_TRUE((*runner)->Run().ok());
  std::vector<double> out = *(*runner)->Read("out");
  ASSERT_EQ(out.size(), 12u);
  for (int i = 0; i < 12; ++i) {
    int c = i % 3;
    double want = (x[i] - mean[c]) / std::sqrt(var[c] + 0.01) * weight[c] + bias[c];
    EXPECT_NEAR(out[i], want, 1e-5 * std::max(1.0, std::abs(want))) << i;
  }
  // Other rows changed: row 0's output stays (batch statistics would move it).
  std::vector<double> first_row(out.begin(), out.begin() + 3);
  for (int i = 3; i < 12; ++i) x[i] = 100.0 - 7.0 * i;
  ASSERT_TRUE((*runner)->Set("x", x).ok());
  ASSERT_TRUE((*runner)->Run().ok());
  std::vector<double> again = *(*runner)->Read("out");
  EXPECT_EQ(std::vector<double>(again.begin(), again.begin() + 3), first_row);
}

// Batch statistics of one value per channel are undefined (PyTorch raises); evaluation of a
// single sample is fine.
TEST(BatchNormStepTest, TrainingOnOneValuePerChannelIsAnError) {
  absl::StatusOr<frontend::ModelAst> ast = frontend::ParseModel(
      "model m {\n"
      "  input x: f32[B, 3]\n"
      "  input y: i64[B]\n"
      "  loss = cross_entropy(batch_norm1d(x, name=bn), y)\n"
      "}\n"
      "train {\n"
      "  optimizer = sgd(lr=0.1)\n"
      "}\n",
      "one.kiln");
  ASSERT_TRUE(ast.ok()) << ast.status();
  absl::StatusOr<Model> single = Load(*ast, 1);
  ASSERT_TRUE(single.ok()) << single.status();
  absl::StatusOr<Graph> step = BuildTrainingStep(single->graph, single->train);
  ASSERT_FALSE(step.ok());
  EXPECT_NE(step.status().message().find("one.kiln:4:"), std::string::npos) << step.status();
  EXPECT_NE(step.status().message().find(
                "batch_norm 'bn': training needs more than one value per channel, got input "
                "f32[1,3]"),
            std::string::npos)
      << step.status();
  EXPECT_TRUE(BuildEvalStep(single->graph).ok());
  absl::StatusOr<Model> pair = Load(*ast, 2);
  ASSERT_TRUE(pair.ok()) << pair.status();
  EXPECT_TRUE(BuildTrainingStep(pair->graph, pair->train).ok());
}

}  // namespace
}  // namespace kiln::passes
