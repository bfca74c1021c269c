#include <gtest/gtest.h>

#include "frontend/frontend.h"

namespace kiln::frontend {
namespace {

absl::StatusOr<ir::TrainConfig> Train(const std::string& body) {
  auto ast = ParseModel("model m {\n  input x: f32[B, 2]\n}\ntrain {\n" + body + "}\n", "t.kiln");
  if (!ast.ok()) return ast.status();
  return LowerTrainConfig(*ast);
}

ir::TrainConfig TrainOk(const std::string& body) {
  auto config = Train(body);
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : ir::TrainConfig{};
}

std::string TrainError(const std::string& body) {
  auto config = Train(body);
  EXPECT_FALSE(config.ok());
  return config.ok() ? "" : std::string(config.status().message());
}

TEST(LowerTrainTest, FashionMlpExample) {
  auto ast = ParseModelFile("examples/fashion_mlp.kiln");
  ASSERT_TRUE(ast.ok()) << ast.status();
  auto config = LowerTrainConfig(*ast);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->data.source, "fashion_mnist");
  EXPECT_DOUBLE_EQ(config->data.scale, 1.0 / 255.0);
  EXPECT_NEAR(config->data.scale, 0.00392157, 1e-8);
  EXPECT_EQ(config->data.mean, std::vector<double>{0.5});
  EXPECT_EQ(config->data.stddev, std::vector<double>{0.5});
  EXPECT_TRUE(config->data.shuffle);
  EXPECT_EQ(config->data.loc.ToString(), "examples/fashion_mlp.kiln:17:10");
  EXPECT_EQ(config->optimizer.kind, "adam");
  EXPECT_DOUBLE_EQ(config->optimizer.Get("lr", 0), 3e-3);
  EXPECT_DOUBLE_EQ(config->optimizer.Get("beta1", 0), 0.9);
  EXPECT_DOUBLE_EQ(config->optimizer.Get("beta2", 0), 0.999);
  EXPECT_DOUBLE_EQ(config->optimizer.Get("eps", 0), 1e-8);
  EXPECT_DOUBLE_EQ(config->optimizer.Get("weight_decay", -1), 0.0);
  EXPECT_EQ(config->batch_size, 64);
  EXPECT_EQ(config->epochs, 10);
  EXPECT_EQ(config->seed, 0u);
  EXPECT_EQ(config->metrics, (std::vector<std::string>{"loss", "accuracy"}));
}

TEST(LowerTrainTest, AdamDefaults) {
  ir::TrainConfig config = TrainOk("  optimizer = adam\n");
  EXPECT_EQ(config.optimizer.kind, "adam");
  EXPECT_EQ(config.optimizer.hparams,
            (std::map<std::string, double>{
                {"lr", 1e-3}, {"beta1", 0.9}, {"beta2", 0.999}, {"eps", 1e-8},
                {"weight_decay", 0.0}}));
  // Left-out keys keep their defaults.
  EXPECT_EQ(config.batch_size, 64);
  EXPECT_EQ(config.epochs, 1);
  EXPECT_EQ(config.data.source, "fashion_mnist");
  EXPECT_TRUE(config.data.mean.empty());
}

TEST(LowerTrainTest, AdamArguments) {
  ir::TrainConfig config =
      TrainOk("  optimizer = adam(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=5e-4)\n");
  EXPECT_DOUBLE_EQ(config.optimizer.Get("lr", 0), 1e-2);
  EXPECT_DOUBLE_EQ(config.optimizer.Get("beta1", 0), 0.8);
  EXPECT_DOUBLE_EQ(config.optimizer.Get("beta2", 0), 0.99);
  EXPECT_DOUBLE_EQ(config.optimizer.Get("eps", 0), 1e-6);
  EXPECT_DOUBLE_EQ(config.optimizer.Get("weight_decay", 0), 5e-4);
}

TEST(LowerTrainTest, Sgd) {
  ir::TrainConfig config = TrainOk("  optimizer = sgd(0.1, momentum=0.9, nesterov=true)\n");
  EXPECT_EQ(config.optimizer.kind, "sgd");
  EXPECT_EQ(config.optimizer.hparams,
            (std::map<std::string, double>{{"lr", 0.1},
                                           {"momentum", 0.9},
                                           {"dampening", 0.0},
                                           {"nesterov", 1.0},
                                           {"weight_decay", 0.0}}));
  EXPECT_NE(TrainError("  optimizer = sgd(momentum=0.9)\n").find("sgd: missing argument 'lr'"),
            std::string::npos);
  EXPECT_NE(TrainError("  optimizer = sgd(lr=0.1, nesterov=true)\n")
                .find("nesterov momentum requires momentum > 0"),
            std::string::npos);
}

TEST(LowerTrainTest, DataSources) {
  ir::TrainConfig config = TrainOk(
      "  data = mnist(path=\"/data/mnist\", train_limit=1000, test_limit=500, shuffle=false,\n"
      "               normalize=((0.1307,), (0.3081,)))\n"
      "  optimizer = sgd(lr=0.01)\n"
      "  seed = 42\n"
      "  metrics = [accuracy]\n");
  EXPECT_EQ(config.data.source, "mnist");
  EXPECT_EQ(config.data.path, "/data/mnist");
  EXPECT_EQ(config.data.train_limit, 1000);
  EXPECT_EQ(config.data.test_limit, 500);
  EXPECT_FALSE(config.data.shuffle);
  EXPECT_DOUBLE_EQ(config.data.scale, 1.0);
  EXPECT_EQ(config.data.mean, std::vector<double>{0.1307});
  EXPECT_EQ(config.data.stddev, std::vector<double>{0.3081});
  EXPECT_EQ(config.seed, 42u);
  EXPECT_EQ(config.metrics, std::vector<std::string>{"accuracy"});
  EXPECT_NE(TrainError("  data = idx()\n  optimizer = adam\n").find("idx: missing argument 'path'"),
            std::string::npos);
}

TEST(LowerTrainTest, InitWeightsAndInitExclude) {
  ir::TrainConfig config =
      TrainOk("  optimizer = adam\n  init_weights = \"w.kckpt\"\n  init_exclude = [fc, \"head*\"]\n");
  EXPECT_EQ(config.init_weights, "w.kckpt");
  ASSERT_EQ(config.init_exclude.size(), 2u);
  EXPECT_EQ(config.init_exclude[0].pattern, "fc");
  EXPECT_EQ(config.init_exclude[1].pattern, "head*");
  EXPECT_EQ(TrainError("  optimizer = adam\n  init_weights = 3\n"),
            "t.kiln:6:18: error: init_weights must be a file name in quotes\n"
            "    init_weights = 3\n"
            "                   ^");
  // Module names, exact names and globs match as in freeze.
  EXPECT_TRUE(ir::MatchesNamePattern("fc", "fc.0.weight"));
  EXPECT_FALSE(ir::MatchesNamePattern("fc", "fc1.weight"));
  EXPECT_TRUE(ir::MatchesNamePattern("fc*", "fc1.weight"));
  EXPECT_TRUE(ir::MatchesNamePattern("layer1.0.conv1.weight", "layer1.0.conv1.weight"));
}

// The W6 examples: torchvision's state_dict names, and the feature-extraction train section.
TEST(LowerTrainTest, ResNet18Examples) {
  auto ast = ParseModelFile("examples/resnet18_features.kiln");
  ASSERT_TRUE(ast.ok()) << ast.status();
  auto config = LowerTrainConfig(*ast);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_DOUBLE_EQ(config->optimizer.Get("lr", 0), 1e-4);
  EXPECT_DOUBLE_EQ(config->optimizer.Get("weight_decay", 0), 1e-5);
  EXPECT_EQ(config->freeze.size(), 6u);
  ASSERT_EQ(config->init_exclude.size(), 1u);
  EXPECT_EQ(config->init_exclude[0].pattern, "fc");
  for (const char* file : {"examples/resnet18.kiln", "examples/resnet18_features.kiln"}) {
    auto model_ast = ParseModelFile(file);
    ASSERT_TRUE(model_ast.ok()) << model_ast.status();
    auto graph = LowerModel(*model_ast, {{"B", 2}});
    ASSERT_TRUE(graph.ok()) << graph.status();
    int params = 0;
    for (const ir::Node& node : graph->nodes()) params += node.op == "parameter";
    for (const char* name : {"conv1.weight", "bn1.running_var", "layer1.0.conv1.weight",
                             "layer2.0.downsample.0.weight", "layer4.1.bn2.bias"}) {
      EXPECT_NE(graph->FindByName(name), ir::kNoNode) << file << ": " << name;
    }
    EXPECT_EQ(params, std::string(file).find("features") == std::string::npos ? 62 : 66) << file;
  }
}

TEST(LowerTrainTest, UnknownKeyGolden) {
  EXPECT_EQ(TrainError("  optimizer = adam()\n"
                       "  epoch = 3\n"),
            "t.kiln:6:3: error: unknown train key 'epoch', did you mean 'epochs'?\n"
            "    epoch = 3\n"
            "    ^");
}

TEST(LowerTrainTest, UnknownOptimizerArgumentGolden) {
  EXPECT_EQ(TrainError("  optimizer = adam(lr=1e-3, beta=(0.9, 0.99))\n"),
            "t.kiln:5:29: error: adam has no argument 'beta', did you mean 'betas'?\n"
            "    optimizer = adam(lr=1e-3, beta=(0.9, 0.99))\n"
            "                              ^");
}

// Range errors come from the optimizer's record and point at the argument.
TEST(LowerTrainTest, OptimizerRangeErrorGolden) {
  EXPECT_EQ(TrainError("  optimizer = adam(betas=(0.9, 1.0))\n"),
            "t.kiln:5:26: error: adam: betas must be in [0, 1), got 1\n"
            "    optimizer = adam(betas=(0.9, 1.0))\n"
            "                           ^");
  EXPECT_NE(TrainError("  optimizer = adadelta(rho=1.5)\n").find("5:28: error: adadelta: rho must "
                                                                   "be in [0, 1], got 1.5"),
            std::string::npos);
  EXPECT_NE(TrainError("  optimizer = sgd(lr=-1)\n").find("sgd: lr must be >= 0, got -1"),
            std::string::npos);
  EXPECT_NE(TrainError("  optimizer = adam(betas=0.9)\n").find("adam: betas must be a pair"),
            std::string::npos);
}

// Data-source arguments come from the runtime's table: their own first (so csv("x.csv") is
// the path), then those every table takes, with DataSpec's defaults.
TEST(LowerTrainTest, TabularSourcesBindAgainstTheTable) {
  ir::TrainConfig csv = TrainOk(
      "  data = csv(\"points.csv\", features=[a, b], label=y, standardize=true, seed=7)\n"
      "  optimizer = adam\n");
  EXPECT_EQ(csv.data.source, "csv");
  EXPECT_EQ(csv.data.path, "points.csv");
  EXPECT_EQ(csv.data.features, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(csv.data.label, "y");
  EXPECT_TRUE(csv.data.standardize);
  EXPECT_EQ(csv.data.seed, 7u);
  EXPECT_DOUBLE_EQ(csv.data.test_fraction, 0.1);
  EXPECT_TRUE(csv.data.shuffle);
  ir::TrainConfig tensors = TrainOk(
      "  data = tensors(features=\"x.kt\", labels=\"y.kt\", test_fraction=0.25)\n"
      "  optimizer = adam\n");
  EXPECT_EQ(tensors.data.path, "x.kt");
  EXPECT_EQ(tensors.data.labels_path, "y.kt");
  EXPECT_DOUBLE_EQ(tensors.data.test_fraction, 0.25);
  ir::TrainConfig generated = TrainOk(
      "  data = make_classification(n_samples=50, hypercube=false, one_hot=true)\n"
      "  optimizer = adam\n");
  EXPECT_EQ(generated.data.params,
            (std::map<std::string, double>{{"n_samples", 50}, {"hypercube", 0}}));
  EXPECT_TRUE(generated.data.one_hot);
  EXPECT_EQ(TrainError("  data = make_regression(test_fraction=1)\n  optimizer = adam\n"),
            "t.kiln:5:40: error: make_regression: test_fraction must be in [0, 1), got 1\n"
            "    data = make_regression(test_fraction=1)\n"
            "                                         ^");
  EXPECT_NE(TrainError("  data = csv(path=\"p.csv\", seed=-1)\n  optimizer = adam\n")
                .find("csv: seed must be >= 0, got -1"),
            std::string::npos);
  EXPECT_NE(TrainError("  data = make_regression(noise=\"loud\")\n  optimizer = adam\n")
                .find("make_regression: noise must be a number"),
            std::string::npos);
  EXPECT_NE(TrainError("  data = tensors(features=\"x.kt\")\n  optimizer = adam\n")
                .find("tensors: missing argument 'labels'"),
            std::string::npos);
  EXPECT_NE(TrainError("  data = csv(path=\"p.csv\", scale=2)\n  optimizer = adam\n")
                .find("csv has no argument 'scale'"),
            std::string::npos);
}

TEST(LowerTrainTest, OtherErrors) {
  EXPECT_NE(TrainError("  optimizer = adan()\n").find("unknown optimizer 'adan', did you mean "
                                                      "'adam'?"),
            std::string::npos);
  EXPECT_NE(TrainError("  data = fashion_mnist(scal=1/255)\n  optimizer = adam\n")
                .find("fashion_mnist has no argument 'scal', did you mean 'scale'?"),
            std::string::npos);
  EXPECT_NE(TrainError("  data = fashion_mnst()\n  optimizer = adam\n")
                .find("unknown data source 'fashion_mnst', did you mean 'fashion_mnist'?"),
            std::string::npos);
  EXPECT_NE(TrainError("  optimizer = adam\n  epochs = 2.5\n")
                .find("6:12: error: epochs must be an integer >= 1"),
            std::string::npos);
  EXPECT_NE(TrainError("  optimizer = adam\n  epochs = 2\n  epochs = 3\n")
                .find("7:3: error: 'epochs' is set twice (first at t.kiln:6:3)"),
            std::string::npos);
  EXPECT_NE(TrainError("  epochs = 2\n").find("must set an optimizer"), std::string::npos);
  EXPECT_NE(TrainError("  optimizer = adam\n  metrics = [loss, acuracy]\n")
                .find("unknown metric 'acuracy', did you mean 'accuracy'?"),
            std::string::npos);
  EXPECT_NE(TrainError("  optimizer = adam(lr=x)\n").find("undefined name 'x'"),
            std::string::npos);
  auto ast = ParseModel("model m {\n}\n", "t.kiln");
  ASSERT_TRUE(ast.ok());
  EXPECT_FALSE(LowerTrainConfig(*ast).ok());
}

}  // namespace
}  // namespace kiln::frontend
