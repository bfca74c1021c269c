// The train keys around the optimizer: optimizer tables and defaults, freezing (with its
// errors), gradient clipping in the graph, and the runtime's learning-rate schedules. Numeric
// parity of every update rule with PyTorch is tests/golden/optimizer_parity_test.cc.
#include "passes/optimizers.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "frontend/frontend.h"
#include "gtest/gtest.h"
#include "ir/optimizer_defs.h"
#include "passes/training_step.h"
#include "runtime/trainer.h"
#include "tools/graph_runner.h"

namespace kiln {
namespace {

constexpr char kModel[] = R"(model mlp {
  input x: f32[B, 4]
  input y: i64[B]
  h = relu(linear(x, 5, name=fc1))
  loss = cross_entropy(linear(h, 3, name=fc2), y)
}
train {
  %s
}
)";

absl::StatusOr<ir::TrainConfig> Train(const std::string& lines) {
  absl::StatusOr<frontend::ModelAst> ast =
      frontend::ParseModel(absl::StrFormat(kModel, lines), "mlp.kiln");
  if (!ast.ok()) return ast.status();
  return frontend::LowerTrainConfig(*ast);
}

absl::StatusOr<ir::Graph> Step(const std::string& lines) {
  absl::StatusOr<frontend::ModelAst> ast =
      frontend::ParseModel(absl::StrFormat(kModel, lines), "mlp.kiln");
  if (!ast.ok()) return ast.status();
  absl::StatusOr<ir::TrainConfig> train = frontend::LowerTrainConfig(*ast);
  if (!train.ok()) return train.status();
  absl::StatusOr<ir::Graph> model = frontend::LowerModel(*ast, {{"B", 2}});
  if (!model.ok()) return model.status();
  return passes::BuildTrainingStep(*model, *train);
}

// Names of the tensors the step writes in place.
std::set<std::string> Updated(const ir::Graph& graph) {
  std::set<std::string> names;
  for (const auto& update : graph.updates) names.insert(graph.node(update.target).name);
  return names;
}

TEST(OptimizerConfigTest, DefaultsArePyTorchs) {
  absl::StatusOr<ir::TrainConfig> adamw = Train("optimizer = adamw");
  ASSERT_TRUE(adamw.ok()) << adamw.status();
  EXPECT_EQ(adamw->optimizer.Get("weight_decay", -1), 1e-2);
  EXPECT_EQ(adamw->optimizer.Get("lr", -1), 1e-3);
  absl::StatusOr<ir::TrainConfig> rmsprop = Train("optimizer = rmsprop");
  ASSERT_TRUE(rmsprop.ok()) << rmsprop.status();
  EXPECT_EQ(rmsprop->optimizer.Get("lr", -1), 1e-2);
  EXPECT_EQ(rmsprop->optimizer.Get("alpha", -1), 0.99);
  absl::StatusOr<ir::TrainConfig> adagrad = Train("optimizer = adagrad");
  ASSERT_TRUE(adagrad.ok()) << adagrad.status();
  EXPECT_EQ(adagrad->optimizer.Get("eps", -1), 1e-10);
  absl::StatusOr<ir::TrainConfig> adadelta = Train("optimizer = adadelta");
  ASSERT_TRUE(adadelta.ok()) << adadelta.status();
  EXPECT_EQ(adadelta->optimizer.Get("lr", -1), 1.0);
  EXPECT_EQ(adadelta->optimizer.Get("rho", -1), 0.9);
  EXPECT_EQ(adadelta->optimizer.Get("eps", -1), 1e-6);
}

// The call that turns on every piece of state `def` has: each flag set, momentum > 0.
std::string EverythingOn(const ir::OptimizerDef& def) {
  std::vector<std::string> args;
  for (const ir::Hparam& h : def.hparams) {
    if (h.type == ir::HparamType::kFlag) args.push_back(absl::StrCat(std::string(h.name), "=true"));
    if (h.name == "momentum") args.push_back("momentum=0.9");
    if (h.required) args.push_back(absl::StrCat(std::string(h.name), "=0.1"));
  }
  return absl::StrCat("optimizer = ", std::string(def.name), "(", absl::StrJoin(args, ", "), ")");
}

// A record's state list is what its update rule makes: with everything on, fc1.weight gets
// exactly the listed state tensors (named by torch's state keys).
TEST(OptimizerTableTest, StateTensorsAreTheRecordsList) {
  for (const ir::OptimizerDef& def : ir::Optimizers()) {
    absl::StatusOr<ir::Graph> step = Step(EverythingOn(def));
    ASSERT_TRUE(step.ok()) << def.name << ": " << step.status();
    std::set<std::string> made;
    for (const std::string& name : Updated(*step)) {
      if (absl::StartsWith(name, "fc1.weight.")) made.insert(name.substr(strlen("fc1.weight.")));
    }
    std::set<std::string> listed(def.state.begin(), def.state.end());
    EXPECT_EQ(made, listed) << def.name;
    EXPECT_TRUE(Updated(*step).count(absl::StrCat(std::string(def.name), ".step"))) << def.name;
  }
}

// docs/dsl.md's optimizer table is the records': one row per optimizer, its signature with
// every default, and its summary.
TEST(OptimizerTableTest, DocsListEveryOptimizerAsItsRecordSays) {
  std::ifstream file("docs/dsl.md");
  ASSERT_TRUE(file) << "run from the source root";
  const std::string docs((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  for (const ir::OptimizerDef& def : ir::Optimizers()) {
    const std::string row = absl::StrCat("| `", ir::SignatureText(def), "` | ",
                                         std::string(def.summary), " |");
    EXPECT_NE(docs.find(row), std::string::npos) << "docs/dsl.md lacks the row\n" << row;
  }
}

TEST(OptimizerTableTest, UnsetHyperparametersTakeTheRecordsDefaults) {
  const ir::OptimizerDef& adamw = *ir::FindOptimizer("adamw");
  ir::OptimizerConfig config{.kind = "adamw", .hparams = {{"beta1", 0.5}}};
  EXPECT_EQ(ir::HparamValue(adamw, config, "beta1"), 0.5);
  EXPECT_EQ(ir::HparamValue(adamw, config, "beta2"), 0.999);
  EXPECT_EQ(ir::HparamValue(adamw, config, "weight_decay"), 1e-2);
  EXPECT_EQ(ir::SignatureText(adamw),
            "adamw(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=false)");
  EXPECT_EQ(ir::SignatureText(*ir::FindOptimizer("sgd")),
            "sgd(lr, momentum=0, dampening=0, weight_decay=0, nesterov=false)");
  config.hparams["beta2"] = 1.0;
  std::optional<ir::HparamProblem> problem = ir::CheckHparams(adamw, config);
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->key, "betas");
  EXPECT_EQ(problem->message, "betas must be in [0, 1), got 1");
}

TEST(OptimizerConfigTest, UnknownOptimizerSuggestsTheNearest) {
  absl::StatusOr<ir::TrainConfig> train = Train("optimizer = adamm(lr=0.1)");
  ASSERT_FALSE(train.ok());
  EXPECT_NE(train.status().message().find("did you mean"), std::string::npos)
      << train.status();
}

TEST(OptimizerConfigTest, AmsgradKeepsTheMaximumSecondMoment) {
  absl::StatusOr<ir::Graph> plain = Step("optimizer = adam");
  absl::StatusOr<ir::Graph> amsgrad = Step("optimizer = adam(amsgrad=true)");
  ASSERT_TRUE(plain.ok() && amsgrad.ok()) << plain.status() << amsgrad.status();
  EXPECT_FALSE(Updated(*plain).count("fc1.weight.max_exp_avg_sq"));
  EXPECT_TRUE(Updated(*amsgrad).count("fc1.weight.max_exp_avg_sq"));
}

TEST(FreezeTest, ModuleNameFreezesItsParameters) {
  absl::StatusOr<ir::Graph> step = Step("optimizer = adam\n  freeze = [fc1]");
  ASSERT_TRUE(step.ok()) << step.status();
  std::set<std::string> updated = Updated(*step);
  EXPECT_FALSE(updated.count("fc1.weight"));
  EXPECT_FALSE(updated.count("fc1.bias"));
  EXPECT_FALSE(updated.count("fc1.weight.exp_avg"));
  EXPECT_TRUE(updated.count("fc2.weight"));
  EXPECT_TRUE(updated.count("fc2.bias"));
}

TEST(FreezeTest, GlobAndExactNames) {
  absl::StatusOr<ir::Graph> step = Step("optimizer = sgd(lr=0.1)\n  freeze = [\"fc*\"]");
  ASSERT_FALSE(step.ok());  // Everything frozen.
  EXPECT_NE(step.status().message().find("every parameter is frozen"), std::string::npos);
  step = Step("optimizer = sgd(lr=0.1)\n  freeze = [fc2.bias]");
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_EQ(Updated(*step), (std::set<std::string>{"fc1.weight", "fc1.bias", "fc2.weight",
                                                   "sgd.step"}));
}

TEST(FreezeTest, UnknownNameSuggestsTheNearest) {
  absl::StatusOr<ir::Graph> step = Step("optimizer = sgd(lr=0.1)\n  freeze = [fc1.wieght]");
  ASSERT_FALSE(step.ok());
  EXPECT_NE(step.status().message().find("no parameter 'fc1.wieght'"), std::string::npos)
      << step.status();
  EXPECT_NE(step.status().message().find("fc1.weight"), std::string::npos) << step.status();
  EXPECT_NE(step.status().ToString().find("mlp.kiln:9:13:"), std::string::npos) << step.status();
}

// One SGD step with lr = 1 makes the parameter change equal the clipped gradient.
TEST(ClipTest, NormAndValueClippingInTheGraph) {
  absl::StatusOr<ir::Graph> free = Step("optimizer = sgd(lr=1)");
  absl::StatusOr<ir::Graph> clipped = Step("optimizer = sgd(lr=1)\n  clip_grad_norm = 1e-3");
  absl::StatusOr<ir::Graph> clamped = Step("optimizer = sgd(lr=1)\n  clip_grad_value = 1e-4");
  ASSERT_TRUE(free.ok() && clipped.ok() && clamped.ok());
  auto changes = [](ir::Graph graph) {
    auto runner = tools::GraphRunner::Compile(std::move(graph));
    EXPECT_TRUE(runner.ok()) << runner.status();
    std::vector<double> before = {0.1, -0.2, 0.3, 0.05, -0.1, 0.2, 0.15, -0.3, 0.25, 0.1,
                                  -0.05, 0.2, 0.3, -0.1, 0.05, 0.2, -0.25, 0.1, 0.3, -0.2};
    EXPECT_TRUE((*runner)->Set("fc1.weight", before).ok());
    EXPECT_TRUE((*runner)->Set("kiln.lr", {1.0}).ok());
    EXPECT_TRUE((*runner)->Set("x", {1, 2, 3, 4, -1, 0.5, 2, 1}).ok());
    EXPECT_TRUE((*runner)->Set("y", {0, 2}).ok());
    EXPECT_TRUE((*runner)->Run().ok());
    std::vector<double> after = *(*runner)->Read("fc1.weight");
    for (size_t i = 0; i < after.size(); ++i) after[i] = before[i] - after[i];
    return after;
  };
  std::vector<double> grad = changes(*std::move(free));
  std::vector<double> by_norm = changes(*std::move(clipped));
  std::vector<double> by_value = changes(*std::move(clamped));
  double max_abs = 0;
  for (double g : grad) max_abs = std::max(max_abs, std::abs(g));
  ASSERT_GT(max_abs, 1e-3);  // The clip must bite for the test to mean anything.
  double norm = 0;
  for (double g : by_norm) norm += g * g;
  EXPECT_LE(std::sqrt(norm), 1e-3 * (1 + 1e-4));  // fc1.weight is part of the global norm.
  for (size_t i = 0; i < grad.size(); ++i) {
    EXPECT_NEAR(by_value[i], std::clamp(grad[i], -1e-4, 1e-4), 1e-6) << i;
  }
}

// A rank-0 parameter is part of the global norm like any other (its square is its own sum).
TEST(ClipTest, NormClippingIncludesRankZeroParameters) {
  constexpr char kScaled[] = R"(model scaled {
  input x: f32[B, 4]
  input y: i64[B]
  param s: f32[] = ones
  loss = cross_entropy(linear(x, 3, name=fc) * s, y)
}
train {
  optimizer = sgd(lr=1)
  clip_grad_norm = 1e-4
}
)";
  absl::StatusOr<frontend::ModelAst> ast = frontend::ParseModel(kScaled, "scaled.kiln");
  ASSERT_TRUE(ast.ok()) << ast.status();
  absl::StatusOr<ir::TrainConfig> train = frontend::LowerTrainConfig(*ast);
  absl::StatusOr<ir::Graph> model = frontend::LowerModel(*ast, {{"B", 2}});
  ASSERT_TRUE(train.ok() && model.ok());
  absl::StatusOr<ir::Graph> step = passes::BuildTrainingStep(*model, *train);
  ASSERT_TRUE(step.ok()) << step.status();
  auto runner = tools::GraphRunner::Compile(*std::move(step));
  ASSERT_TRUE(runner.ok()) << runner.status();
  std::vector<double> weight(12);
  for (size_t i = 0; i < weight.size(); ++i) weight[i] = 0.1 * (static_cast<double>(i % 5) - 2);
  ASSERT_TRUE((*runner)->Set("fc.weight", weight).ok());
  ASSERT_TRUE((*runner)->Set("fc.bias", {0.0, 0.0, 0.0}).ok());
  ASSERT_TRUE((*runner)->Set("s", {1.0}).ok());
  ASSERT_TRUE((*runner)->Set("kiln.lr", {1.0}).ok());
  ASSERT_TRUE((*runner)->Set("x", {1, 2, 3, 4, -1, 0.5, 2, 1}).ok());
  ASSERT_TRUE((*runner)->Set("y", {0, 2}).ok());
  ASSERT_TRUE((*runner)->Run().ok());
  double norm = 0;
  std::vector<double> s = *(*runner)->Read("s");
  ASSERT_EQ(s.size(), 1u);
  norm += (1.0 - s[0]) * (1.0 - s[0]);
  std::vector<double> after = *(*runner)->Read("fc.weight");
  for (size_t i = 0; i < after.size(); ++i) norm += std::pow(weight[i] - after[i], 2);
  std::vector<double> bias = *(*runner)->Read("fc.bias");
  for (double b : bias) norm += b * b;
  EXPECT_NE(s[0], 1.0);  // s moved...
  // ...and the whole step was clipped to 1e-4 (its unclipped norm is ~1e-3).
  EXPECT_NEAR(std::sqrt(norm), 1e-4, 1e-7);
}

TEST(ScheduleTest, ClosedFormsMatchTorchLrScheduler) {
  using Kind = runtime::LrSchedule::Kind;
  // Rates of epochs 1..7 printed by torch.optim.lr_scheduler stepped once per epoch, lr=0.1.
  const std::vector<std::pair<runtime::LrSchedule, std::vector<double>>> cases = {
      {{.kind = Kind::kStep, .step_size = 3, .gamma = 0.5},
       {0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025}},
      {{.kind = Kind::kExponential, .gamma = 0.9},
       {0.1, 0.09, 0.081, 0.0729, 0.06561, 0.059049, 0.0531441}},
      {{.kind = Kind::kCosine, .t_max = 4, .eta_min = 0.01},
       {0.1, 0.08681980515339464, 0.055, 0.023180194846605363, 0.01, 0.023180194846605363,
        0.055}},
      {{.kind = Kind::kConstant}, {0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}},
  };
  for (const auto& [schedule, want] : cases) {
    for (int64_t epoch = 1; epoch <= 7; ++epoch) {
      EXPECT_NEAR(runtime::ScheduledLearningRate(schedule, 0.1, epoch), want[epoch - 1], 1e-12)
          << static_cast<int>(schedule.kind) << " epoch " << epoch;
    }
  }
}

TEST(ScheduleTest, FrontendReadsSchedules) {
  absl::StatusOr<ir::TrainConfig> train =
      Train("optimizer = sgd(lr=0.1)\n  schedule = cosine(t_max=10, eta_min=1e-4)");
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_EQ(train->schedule.kind, "cosine");
  EXPECT_EQ(train->schedule.t_max, 10);
  EXPECT_EQ(train->schedule.eta_min, 1e-4);
  absl::StatusOr<ir::TrainConfig> bad = Train("optimizer = sgd(lr=0.1)\n  schedule = cosin(t_max=3)");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("did you mean"), std::string::npos) << bad.status();
  bad = Train("optimizer = sgd(lr=0.1)\n  schedule = step(gamma=0.5)");
  EXPECT_FALSE(bad.ok());  // step_size is required.
}

}  // namespace
}  // namespace kiln
