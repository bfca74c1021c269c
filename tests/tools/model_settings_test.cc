// --set NAME=VALUE (tools/model_settings.h): which binding or key each name reaches, how values
// are read, and the one-line errors.
#include "tools/model_settings.h"

#include <string>
#include <vector>

#include "frontend/frontend.h"
#include "gtest/gtest.h"

namespace kiln::tools {
namespace {

constexpr char kModel[] = R"(model m {
  input x: f32[B, 4]
  input y: i64[B]
  hidden = 8
  scale = 0.5
  h = relu(linear(x, hidden, name=fc1)) * scale
  logits = linear(h, 3, name=out)
  loss = cross_entropy(logits, y)
}
train {
  data = make_classification(n_samples=100, n_features=4, n_classes=3, seed=1)
  optimizer = sgd(momentum=0.9)
  batch_size = 10
  epochs = 2
}
)";

frontend::ModelAst Parse() {
  auto ast = frontend::ParseModel(kModel, "m.kiln");
  EXPECT_TRUE(ast.ok()) << ast.status();
  return *std::move(ast);
}

TEST(TakeModelSettingsTest, PullsEveryRepeatedSetOutOfTheArguments) {
  std::vector<std::string> args = {"m.kiln",   "--set", "hidden=64",
                                   "--epochs", "3",     "--set=lr=0.01"};
  auto settings = TakeModelSettings(args);
  ASSERT_TRUE(settings.ok()) << settings.status();
  ASSERT_EQ(settings->size(), 2u);
  EXPECT_EQ((*settings)[0].name, "hidden");
  EXPECT_EQ((*settings)[0].value, "64");
  EXPECT_EQ((*settings)[1].name, "lr");
  EXPECT_EQ((*settings)[1].value, "0.01");
  EXPECT_EQ(args, (std::vector<std::string>{"m.kiln", "--epochs", "3"}));

  std::vector<std::string> bad = {"--set", "hidden"};
  EXPECT_EQ(TakeModelSettings(bad).status().message(),
            "--set hidden: expected NAME=VALUE, e.g. --set hidden=64");
}

TEST(ApplyModelSettingsTest, ReachesConstantsTrainKeysAndOptimizerArguments) {
  frontend::ModelAst ast = Parse();
  ASSERT_TRUE(ApplyModelSettings({{"hidden", "32"},
                                  {"scale", "0.25"},
                                  {"batch_size", "20"},
                                  {"momentum", "0.5"},
                                  {"lr", "0.003"}},
                                 ast)
                  .ok());
  auto graph = frontend::LowerModel(ast, {{"B", 20}});
  ASSERT_TRUE(graph.ok()) << graph.status();
  const ir::Node& weight = graph->node(graph->FindByName("fc1.weight"));
  EXPECT_EQ(weight.type.ToString(), "f32[4,32]") << "hidden=32 reached linear's width";
  auto train = frontend::LowerTrainConfig(ast);
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_EQ(train->batch_size, 20);
  EXPECT_EQ(train->optimizer.Get("momentum", 0), 0.5);
  EXPECT_EQ(train->optimizer.Get("lr", 0), 0.003) << "lr added to sgd(momentum=0.9)";
}

TEST(ApplyModelSettingsTest, UnknownAndComputedNamesAreOneLineErrors) {
  frontend::ModelAst ast = Parse();
  EXPECT_EQ(ApplyModelSettings({{"hiden", "3"}}, ast).message(),
            "--set hiden: no constant, train key or optimizer setting 'hiden' in the model "
            "(settable: hidden, scale, data, optimizer, momentum, batch_size, epochs, lr)");
  EXPECT_EQ(ApplyModelSettings({{"h", "3"}}, ast).message(),
            "--set h: 'h' is computed in the model, not a constant that can be set");
}

}  // namespace
}  // namespace kiln::tools
