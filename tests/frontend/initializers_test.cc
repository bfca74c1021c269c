#include "frontend/initializers.h"

#include <gtest/gtest.h>

#include <cmath>

#include "frontend/frontend.h"

namespace kiln::frontend {
namespace {

// Parses `init` as an initializer expression and computes its attrs for `shape`.
absl::StatusOr<ir::Attrs> Init(const std::string& init, const ir::Shape& shape) {
  auto ast = ParseModel("model m {\n  v = " + init + "\n}\n", "t.kiln");
  if (!ast.ok()) return ast.status();
  return InitAttrs(ast->model.body[0].value, FansOf(shape));
}

ir::Attrs InitOk(const std::string& init, const ir::Shape& shape) {
  auto attrs = Init(init, shape);
  EXPECT_TRUE(attrs.ok()) << attrs.status();
  return attrs.ok() ? *attrs : ir::Attrs{};
}

// Expected values are torch.nn.init's formulas evaluated by hand for a [256, 128] weight, i.e.
// fan_in 256 and fan_out 128 in kiln's [in, out] layout.
TEST(InitializersTest, Kaiming) {
  ir::Attrs a = InitOk("kaiming_uniform(a=sqrt(5))", {256, 128});
  EXPECT_EQ(a.GetString("init"), "uniform");
  EXPECT_DOUBLE_EQ(a.GetFloat("high"), 1.0 / 16.0);
  EXPECT_DOUBLE_EQ(a.GetFloat("low"), -1.0 / 16.0);
  // Default: leaky_relu with a = 0, gain sqrt(2): bound = sqrt(2) * sqrt(3 / 256).
  EXPECT_DOUBLE_EQ(InitOk("kaiming_uniform", {256, 128}).GetFloat("high"),
                   std::sqrt(2.0) * std::sqrt(3.0 / 256.0));
  ir::Attrs n = InitOk("kaiming_normal(mode=fan_out, nonlinearity=\"relu\")", {256, 128});
  EXPECT_EQ(n.GetString("init"), "normal");
  EXPECT_DOUBLE_EQ(n.GetFloat("mean"), 0.0);
  EXPECT_DOUBLE_EQ(n.GetFloat("std"), std::sqrt(2.0) / std::sqrt(128.0));
  EXPECT_DOUBLE_EQ(InitOk("kaiming_normal(nonlinearity=tanh)", {256, 128}).GetFloat("std"),
                   (5.0 / 3.0) / 16.0);
  EXPECT_DOUBLE_EQ(InitOk("kaiming_normal(0.2, nonlinearity=leaky_relu)", {256, 128})
                       .GetFloat("std"),
                   std::sqrt(2.0 / 1.04) / 16.0);
}

TEST(InitializersTest, Xavier) {
  EXPECT_DOUBLE_EQ(InitOk("xavier_uniform", {256, 128}).GetFloat("high"),
                   std::sqrt(6.0 / 384.0));
  EXPECT_DOUBLE_EQ(InitOk("xavier_normal(gain=2)", {256, 128}).GetFloat("std"),
                   2.0 * std::sqrt(2.0 / 384.0));
}

TEST(InitializersTest, ConvolutionFans) {
  // PyTorch's conv layout [out, in, kh, kw]: fan_in = in * kh * kw.
  Fans fans = FansOf({16, 3, 5, 5});
  EXPECT_EQ(fans.in, 75);
  EXPECT_EQ(fans.out, 400);
}

TEST(InitializersTest, Simple) {
  ir::Attrs u = InitOk("uniform(-0.1, 0.2)", {3});
  EXPECT_DOUBLE_EQ(u.GetFloat("low"), -0.1);
  EXPECT_DOUBLE_EQ(u.GetFloat("high"), 0.2);
  EXPECT_DOUBLE_EQ(InitOk("uniform", {3}).GetFloat("high"), 1.0);
  ir::Attrs n = InitOk("normal(std=0.01)", {3});
  EXPECT_DOUBLE_EQ(n.GetFloat("mean"), 0.0);
  EXPECT_DOUBLE_EQ(n.GetFloat("std"), 0.01);
  EXPECT_DOUBLE_EQ(InitOk("zeros", {3}).GetFloat("value"), 0.0);
  EXPECT_DOUBLE_EQ(InitOk("ones()", {3}).GetFloat("value"), 1.0);
  EXPECT_DOUBLE_EQ(InitOk("constant(1/8)", {3}).GetFloat("value"), 0.125);
}

TEST(InitializersTest, Errors) {
  auto rank1 = Init("kaiming_uniform", {3});
  ASSERT_FALSE(rank1.ok());
  EXPECT_NE(rank1.status().message().find("needs a weight of rank 2 or more"), std::string::npos);
  auto unknown = Init("xavier_unifrom", {3, 3});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find(
                "2:7: error: unknown initializer 'xavier_unifrom', did you mean 'xavier_uniform'?"),
            std::string::npos);
  auto nonlinearity = Init("kaiming_normal(nonlinearity=rleu)", {3, 3});
  ASSERT_FALSE(nonlinearity.ok());
  EXPECT_NE(nonlinearity.status().message().find("unknown nonlinearity 'rleu', did you mean "
                                                 "'relu'?"),
            std::string::npos);
}

}  // namespace
}  // namespace kiln::frontend
