// BuildTrainingStep / BuildEvalStep: what the step graphs of examples/fashion_mlp*.kiln contain
// (updates per parameter, optimizer state, outputs, dropout only while training), and three SGD
// steps of a tiny linear model, run through the real pipeline, against a double-precision
// reference written out by hand.
#include "passes/training_step.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "frontend/frontend.h"
#include "gtest/gtest.h"
#include "ir/graph_builder.h"
#include "ir/op_registry.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/optimizers.h"
#include "tools/graph_runner.h"

namespace kiln::passes {
namespace {

using ir::DType;
using ir::Graph;
using ir::NodeId;
using ir::TensorType;

struct Model {
  Graph graph;
  ir::TrainConfig train;
};

Model LoadExample(const std::string& path, int64_t batch) {
  absl::StatusOr<frontend::ModelAst> ast = frontend::ParseModelFile(path);
  EXPECT_TRUE(ast.ok()) << ast.status();
  if (!ast.ok()) return {};
  absl::StatusOr<Graph> graph = frontend::LowerModel(*ast, {{"B", batch}});
  absl::StatusOr<ir::TrainConfig> train = frontend::LowerTrainConfig(*ast);
  EXPECT_TRUE(graph.ok()) << graph.status();
  EXPECT_TRUE(train.ok()) << train.status();
  if (!graph.ok() || !train.ok()) return {};
  return {*std::move(graph), *std::move(train)};
}

Graph Build(const Graph& model, const ir::TrainConfig& train) {
  absl::StatusOr<Graph> step = BuildTrainingStep(model, train);
  EXPECT_TRUE(step.ok()) << step.status();
  if (!step.ok()) return {};
  absl::Status valid = ir::VerifyGraph(*step);
  EXPECT_TRUE(valid.ok()) << valid;
  return *std::move(step);
}

// Update target name -> number of updates writing it.
std::map<std::string, int> UpdatedNames(const Graph& graph) {
  std::map<std::string, int> names;
  for (const ir::Update& u : graph.updates) ++names[graph.node(u.target).name];
  return names;
}

std::vector<std::string> ParameterNames(const Graph& graph) {
  std::vector<std::string> names;
  for (const ir::Node& node : graph.nodes()) {
    if (node.op == "parameter") names.push_back(node.name);
  }
  return names;
}

int CountOps(const Graph& graph, const std::string& op) {
  return static_cast<int>(std::count_if(graph.nodes().begin(), graph.nodes().end(),
                                        [&](const ir::Node& n) { return n.op == op; }));
}

bool HasComposite(const Graph& graph) {
  return std::any_of(graph.nodes().begin(), graph.nodes().end(),
                     [](const ir::Node& n) { return ir::OpOf(n).Has(ir::kComposite); });
}

const std::vector<std::string> kMlpParameters = {"fc1.weight", "fc1.bias", "fc2.weight",
                                                 "fc2.bias",   "out.weight", "out.bias"};

TEST(TrainingStepTest, AdamUpdatesEveryParameterAndBothMoments) {
  Model model = LoadExample("examples/fashion_mlp.kiln", 8);
  ASSERT_EQ(model.train.optimizer.kind, "adam");
  Graph step = Build(model.graph, model.train);
  EXPECT_EQ(ParameterNames(step), kMlpParameters);
  std::map<std::string, int> expected = {{"adam.step", 1}};
  for (const std::string& p : kMlpParameters) {
    expected[p] = 1;
    expected[p + ".exp_avg"] = 1;
    expected[p + ".exp_avg_sq"] = 1;
  }
  EXPECT_EQ(UpdatedNames(step), expected);
  // Each update keeps its target's type, and every moment is a state shaped like its parameter.
  for (const ir::Update& u : step.updates) {
    EXPECT_EQ(step.node(u.target).type, step.node(u.value).type) << step.node(u.target).name;
    const std::string& name = step.node(u.target).name;
    if (name.find(".exp_avg") == std::string::npos) continue;
    EXPECT_EQ(step.node(u.target).op, "state");
    NodeId param = step.FindByName(name.substr(0, name.find(".exp_avg")));
    ASSERT_NE(param, ir::kNoNode);
    EXPECT_EQ(step.node(u.target).type, step.node(param).type);
  }
  // The step counter advances by one.
  for (const ir::Update& u : step.updates) {
    if (step.node(u.target).name != "adam.step") continue;
    const ir::Node& next = step.node(u.value);
    EXPECT_EQ(next.op, "add");
    EXPECT_EQ(next.operands[0], u.target);
    EXPECT_EQ(step.node(next.operands[1]).attrs.GetFloat("value"), 1.0);
  }
  ASSERT_EQ(step.outputs.size(), 1u);
  EXPECT_EQ(step.outputs[0].first, kLossOutput);
  EXPECT_EQ(step.node(step.outputs[0].second).type, (TensorType{DType::kF32, {}}));
  EXPECT_NE(step.FindByName(kLearningRateInput), ir::kNoNode);
  EXPECT_FALSE(HasComposite(step));
  EXPECT_EQ(step.node(step.FindByName("x")).type.shape, (ir::Shape{8, 784}));
}

TEST(TrainingStepTest, SgdWithMomentumAddsOneBufferPerParameter) {
  Model model = LoadExample("examples/fashion_mlp.kiln", 8);
  model.train.optimizer.kind = "sgd";
  model.train.optimizer.hparams = {{"lr", 0.1}, {"momentum", 0.9}};
  Graph step = Build(model.graph, model.train);
  std::map<std::string, int> expected = {{"sgd.step", 1}};
  for (const std::string& p : kMlpParameters) {
    expected[p] = 1;
    expected[p + ".momentum_buffer"] = 1;
  }
  EXPECT_EQ(UpdatedNames(step), expected);
}

TEST(TrainingStepTest, PlainSgdHasNoOptimizerState) {
  Model model = LoadExample("examples/fashion_mlp.kiln", 8);
  model.train.optimizer.kind = "sgd";
  model.train.optimizer.hparams = {{"lr", 0.1}};
  Graph step = Build(model.graph, model.train);
  std::map<std::string, int> expected = {{"sgd.step", 1}};
  for (const std::string& p : kMlpParameters) expected[p] = 1;
  EXPECT_EQ(UpdatedNames(step), expected);
  EXPECT_EQ(CountOps(step, "state"), 1);  // Only the step counter.
}

TEST(TrainingStepTest, EvalStepReportsLossAndCorrectAndUpdatesNothing) {
  Model model = LoadExample("examples/fashion_mlp.kiln", 8);
  absl::StatusOr<Graph> eval = BuildEvalStep(model.graph);
  ASSERT_TRUE(eval.ok()) << eval.status();
  EXPECT_TRUE(ir::VerifyGraph(*eval).ok());
  EXPECT_TRUE(eval->updates.empty());
  std::vector<std::string> outputs;
  for (const auto& [name, id] : eval->outputs) outputs.push_back(name);
  EXPECT_EQ(outputs, (std::vector<std::string>{kLossOutput, kCorrectOutput, kPredictedOutput,
                                                kProbabilitiesOutput}));
  // nll_loss takes log-probabilities: the probabilities are their exp, one row per sample.
  const ir::Node& probabilities = eval->node(eval->Output(kProbabilitiesOutput));
  EXPECT_EQ(probabilities.op, "exp");
  EXPECT_EQ(probabilities.type, (TensorType{DType::kF32, {8, 10}}));
  // correct = sum(argmax(logp, 1) == y): an f32 count of the batch.
  const ir::Node& correct = eval->node(eval->Output(kCorrectOutput));
  EXPECT_EQ(correct.op, "reduce_sum");
  EXPECT_EQ(correct.type, (TensorType{DType::kF32, {}}));
  EXPECT_EQ(CountOps(*eval, "argmax"), 1);
  EXPECT_EQ(eval->node(eval->Output(kPredictedOutput)).op, "argmax");
  EXPECT_EQ(eval->FindByName(kLearningRateInput), ir::kNoNode);
  EXPECT_EQ(CountOps(*eval, "state"), 0);
  EXPECT_FALSE(HasComposite(*eval));
}

// A sigmoid output with binary cross-entropy: correct = sum((p > 0.5) == (y > 0.5)), no argmax.
TEST(TrainingStepTest, BinaryEvalStepThresholdsTheProbability) {
  Model model = LoadExample("examples/binary_classifier.kiln", 8);
  absl::StatusOr<Graph> eval = BuildEvalStep(model.graph);
  ASSERT_TRUE(eval.ok()) << eval.status();
  EXPECT_TRUE(ir::VerifyGraph(*eval).ok());
  ASSERT_NE(eval->Output(kCorrectOutput), ir::kNoNode);
  EXPECT_EQ(CountOps(*eval, "argmax"), 0);
  const ir::Node& predicted = eval->node(eval->Output(kPredictedOutput));
  EXPECT_EQ(predicted.op, "cast");
  EXPECT_EQ(predicted.type, (TensorType{DType::kI64, {8}}));
  // The sigmoid's output is the probability of class 1, one column.
  const ir::Node& probabilities = eval->node(eval->Output(kProbabilitiesOutput));
  EXPECT_EQ(probabilities.type, (TensorType{DType::kF32, {8, 1}}));
}

// A regression loss has no accuracy: the eval step reports the loss and the prediction (the
// loss's input), which `predict` writes.
TEST(TrainingStepTest, RegressionEvalStepHasNoAccuracy) {
  Model model = LoadExample("examples/regression.kiln", 8);
  absl::StatusOr<Graph> eval = BuildEvalStep(model.graph);
  ASSERT_TRUE(eval.ok()) << eval.status();
  std::vector<std::string> outputs;
  for (const auto& [name, id] : eval->outputs) outputs.push_back(name);
  EXPECT_EQ(outputs, (std::vector<std::string>{kLossOutput, kValueOutput}));
  EXPECT_EQ(eval->node(eval->Output(kValueOutput)).type.dtype, DType::kF32);
}

// The class count the data's labels are checked against: the C of the scores a class-index
// loss takes with the labels input as its target; none for float targets.
TEST(TrainingStepTest, ClassCountIsTheScoresWidthOfAClassIndexLoss) {
  EXPECT_EQ(ClassCount(LoadExample("examples/fashion_mlp.kiln", 8).graph, "y"), 10);
  EXPECT_EQ(ClassCount(LoadExample("examples/binary_classifier.kiln", 8).graph, "y"),
            std::nullopt);
  EXPECT_EQ(ClassCount(LoadExample("examples/regression.kiln", 8).graph, "y"), std::nullopt);
  EXPECT_EQ(ClassCount(LoadExample("examples/fashion_mlp.kiln", 8).graph, "no_such_input"),
            std::nullopt);
}

TEST(TrainingStepTest, DropoutIsActiveOnlyInTheTrainingStep) {
  Model model = LoadExample("examples/fashion_mlp_dropout.kiln", 8);
  Graph step = Build(model.graph, model.train);
  absl::StatusOr<Graph> eval = BuildEvalStep(model.graph);
  ASSERT_TRUE(eval.ok()) << eval.status();
  EXPECT_EQ(CountOps(step, "random_uniform"), 2);
  EXPECT_NE(step.FindByName("kiln.rng"), ir::kNoNode);
  EXPECT_EQ(CountOps(*eval, "random_uniform"), 0);
  EXPECT_EQ(eval->FindByName("kiln.rng"), ir::kNoNode);
}

TEST(TrainingStepTest, ModelWithoutLossIsAnError) {
  Graph model;
  model.name = "m";
  ir::GraphBuilder b(model);
  NodeId x = b.Input("x", {DType::kF32, {2}});
  model.outputs = {{"y", b.Relu(x)}};
  absl::StatusOr<Graph> step = BuildTrainingStep(model, ir::TrainConfig{});
  ASSERT_FALSE(step.ok());
  EXPECT_EQ(step.status().message(), "model 'm' does not define `loss`");
}

// loss = mean((x w + b - t)^2) over a [4,2] output; w [3,2], b [2].
constexpr int kBatch = 4, kIn = 3, kOut = 2;

Graph TinyLinearModel() {
  Graph model;
  model.name = "tiny";
  ir::GraphBuilder b(model);
  ir::Attrs init = {{"init", std::string("constant")}, {"value", 0.0}};
  NodeId x = b.Input("x", {DType::kF32, {kBatch, kIn}});
  NodeId t = b.Input("t", {DType::kF32, {kBatch, kOut}});
  NodeId w = b.Parameter("w", {DType::kF32, {kIn, kOut}}, init);
  NodeId bias = b.Parameter("b", {DType::kF32, {kOut}}, init);
  NodeId err = b.Sub(b.Op("linear", {x, w, bias}), t);
  NodeId loss = b.Op("reduce_mean", {b.Mul(err, err)}, {{"dims", std::vector<int64_t>{0, 1}}});
  EXPECT_TRUE(b.status().ok()) << b.status();
  model.outputs = {{"loss", loss}};
  return model;
}

struct Reference {
  std::vector<double> w, b, velocity_w, velocity_b;
  std::vector<double> losses;
};

// torch.optim.SGD by hand, in double: the gradient of mean((xw + b - t)^2) is
// dW = x^T (2 e / n), db = sum_rows(2 e / n) with n = batch * out.
Reference SgdReference(const std::vector<double>& x, const std::vector<double>& t,
                       std::vector<double> w, std::vector<double> b, double lr, double momentum,
                       int steps) {
  Reference ref;
  std::vector<double> vw(w.size(), 0), vb(b.size(), 0);
  const double n = kBatch * kOut;
  for (int step = 0; step < steps; ++step) {
    std::vector<double> dw(w.size(), 0), db(b.size(), 0);
    double loss = 0;
    for (int r = 0; r < kBatch; ++r) {
      for (int c = 0; c < kOut; ++c) {
        double y = b[c];
        for (int k = 0; k < kIn; ++k) y += x[r * kIn + k] * w[k * kOut + c];
        double e = y - t[r * kOut + c];
        loss += e * e / n;
        db[c] += 2 * e / n;
        for (int k = 0; k < kIn; ++k) dw[k * kOut + c] += x[r * kIn + k] * 2 * e / n;
      }
    }
    ref.losses.push_back(loss);
    auto apply = [&](std::vector<double>& p, std::vector<double>& v, const std::vector<double>& g) {
      for (size_t i = 0; i < p.size(); ++i) {
        v[i] = step == 0 ? g[i] : momentum * v[i] + g[i];
        p[i] -= lr * (momentum != 0 ? v[i] : g[i]);
      }
    };
    apply(w, vw, dw);
    apply(b, vb, db);
  }
  ref.w = w;
  ref.b = b;
  ref.velocity_w = vw;
  ref.velocity_b = vb;
  return ref;
}

void ExpectNear(const std::vector<double>& got, const std::vector<double>& want, double tol,
                const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << what << "[" << i << "]";
}

void RunSgdSteps(double momentum) {
  ir::TrainConfig train;
  train.optimizer.kind = "sgd";
  train.optimizer.hparams = {{"lr", 0.1}, {"momentum", momentum}};
  absl::StatusOr<Graph> step = BuildTrainingStep(TinyLinearModel(), train);
  ASSERT_TRUE(step.ok()) << step.status();
  auto runner = tools::GraphRunner::Compile(*std::move(step));
  ASSERT_TRUE(runner.ok()) << runner.status();
  const std::vector<double> x = {0.5, -1.0, 2.0, 1.5, 0.25, -0.5, -2.0, 1.0, 0.75, 0.1, 0.2, -0.3};
  const std::vector<double> t = {1.0, -1.0, 0.5, 2.0, -1.5, 0.0, 0.25, 0.75};
  const std::vector<double> w0 = {0.1, -0.2, 0.3, 0.05, -0.4, 0.2};
  const std::vector<double> b0 = {0.01, -0.02};
  ASSERT_TRUE((*runner)->Set("x", x).ok());
  ASSERT_TRUE((*runner)->Set("t", t).ok());
  ASSERT_TRUE((*runner)->Set("w", w0).ok());
  ASSERT_TRUE((*runner)->Set("b", b0).ok());
  ASSERT_TRUE((*runner)->Set(kLearningRateInput, {0.1}).ok());
  Reference ref = SgdReference(x, t, w0, b0, 0.1, momentum, 3);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE((*runner)->Run().ok());
    absl::StatusOr<std::vector<double>> loss = (*runner)->Read("loss");
    ASSERT_TRUE(loss.ok()) << loss.status();
    ExpectNear(*loss, {ref.losses[i]}, 1e-5, "loss at step " + std::to_string(i));
  }
  ExpectNear(*(*runner)->Read("w"), ref.w, 1e-5, "w");
  ExpectNear(*(*runner)->Read("b"), ref.b, 1e-5, "b");
  ExpectNear(*(*runner)->Read("sgd.step"), {3.0}, 0, "sgd.step");
  if (momentum != 0) {
    ExpectNear(*(*runner)->Read("w.momentum_buffer"), ref.velocity_w, 1e-5, "w.momentum_buffer");
    ExpectNear(*(*runner)->Read("b.momentum_buffer"), ref.velocity_b, 1e-5, "b.momentum_buffer");
  }
}

TEST(TrainingStepTest, ThreeSgdStepsMatchAHandWrittenReference) { RunSgdSteps(0.0); }

TEST(TrainingStepTest, ThreeSgdMomentumStepsMatchAHandWrittenReference) { RunSgdSteps(0.9); }

}  // namespace
}  // namespace kiln::passes
