// Model files written to break the compiler: nesting deep enough to exhaust a recursive parser's
// stack, shapes whose sizes overflow int64, numbers no integer can hold, and names rebound
// thousands of times. Each must end in a located error (or, for the last, finish quickly).
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "lower_test_util.h"

namespace kiln::frontend {
namespace {

using testing::Lower;
using testing::LowerError;

std::string Repeat(const std::string& piece, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += piece;
  return out;
}

// A model whose body is `header`, then `h = <expr>`, then a loss on h.
std::string ModelWith(const std::string& expr) {
  return absl::StrCat(
      "model m {\n"
      "  input x: f32[B, 4]\n"
      "  input y: f32[B, 4]\n"
      "  h = ",
      expr,
      "\n"
      "  loss = mse_loss(h, y)\n"
      "}\n");
}

void ExpectTooDeep(const std::string& expr) {
  std::string message = LowerError(ModelWith(expr));
  EXPECT_NE(message.find("t.kiln:4:"), std::string::npos) << message.substr(0, 200);
  EXPECT_NE(message.find("nested too deeply"), std::string::npos) << message.substr(0, 200);
}

TEST(HostileModelFileTest, DeepParentheses) {
  ExpectTooDeep(Repeat("(", 3000) + "x" + Repeat(")", 3000));
}

TEST(HostileModelFileTest, LongOperatorChain) { ExpectTooDeep("x" + Repeat(" + x", 5000)); }

TEST(HostileModelFileTest, NestedCalls) {
  ExpectTooDeep(Repeat("relu(", 30000) + "x" + Repeat(")", 30000));
}

TEST(HostileModelFileTest, NestedLists) { ExpectTooDeep(Repeat("[", 100000)); }

TEST(HostileModelFileTest, UnaryAndPowerRuns) {
  ExpectTooDeep(Repeat("-", 100000) + "x");
  ExpectTooDeep("x" + Repeat(" ** x", 100000));
}

// Just under the limit still compiles: the limit is not set below what the recursion can take.
TEST(HostileModelFileTest, ChainBelowTheLimitCompiles) {
  auto graph = Lower(ModelWith("x" + Repeat(" + x", 400)));
  EXPECT_TRUE(graph.ok()) << graph.status();
}

TEST(HostileModelFileTest, ReshapeWhoseProductOverflows) {
  std::string message = LowerError(ModelWith("reshape(x, [4294967296, 4294967296, -1])"));
  EXPECT_NE(message.find("cannot reshape f32[64,4] to [4294967296,4294967296,-1]"),
            std::string::npos)
      << message;
}

TEST(HostileModelFileTest, LayerTooLargeIsACompileError) {
  std::string message = LowerError(ModelWith("linear(x, 10000000000000)"));
  EXPECT_NE(message.find("t.kiln:4:"), std::string::npos) << message;
  EXPECT_NE(message.find("more than kiln's limit of 256 GiB per tensor"), std::string::npos)
      << message;
}

TEST(HostileModelFileTest, ParameterTooLargeNamesTheShape) {
  std::string message = LowerError(
      "model m {\n"
      "  input x: f32[B, 4]\n"
      "  param p: f32[4294967296, 4294967296, 16] = zeros\n"
      "  loss = mean(x)\n"
      "}\n");
  EXPECT_NE(message.find("t.kiln:3:"), std::string::npos) << message;
  EXPECT_NE(message.find("f32[4294967296,4294967296,16] takes 1.18e+21 bytes"), std::string::npos)
      << message;
}

TEST(HostileModelFileTest, InputTooLarge) {
  std::string message = LowerError(
      "model m {\n"
      "  input x: f32[B, 3037000500, 3037000500]\n"
      "  loss = mean(x)\n"
      "}\n");
  EXPECT_NE(message.find("t.kiln:2:"), std::string::npos) << message;
  EXPECT_NE(message.find("f32[64,3037000500,3037000500] takes"), std::string::npos) << message;
}

// Integers are doubles while lowering: 1e300 or 2^64 has no exact int64, and must not be cast.
TEST(HostileModelFileTest, IntegersBeyondTwoToTheFiftyThree) {
  std::string message = LowerError(ModelWith("linear(x, 1e300)"));
  EXPECT_NE(message.find("'out_features' must be an integer within +-2^53, got 1e+300"),
            std::string::npos)
      << message;
  message = LowerError(ModelWith("linear(x, 4611686018427387904)"));
  EXPECT_NE(message.find("must be an integer within +-2^53, got 4.61169e+18"), std::string::npos)
      << message;
  message = LowerError(ModelWith("reshape(x, [4294967296 * 4294967296])"));
  EXPECT_NE(message.find("must be an integer or a list of integers"), std::string::npos) << message;
  message = LowerError(
      "model m {\n"
      "  input x: f32[B, 18446744073709551616]\n"
      "  loss = mean(x)\n"
      "}\n");
  EXPECT_NE(message.find("a dimension must be a positive integer"), std::string::npos) << message;
}

// Rebinding one name many times gives h, h_2, ... h_20000 without probing every earlier suffix
// each time (that was quadratic: 8,000 rebinds took 38 s).
TEST(HostileModelFileTest, ManyRebindsOfOneName) {
  std::string body = "model m {\n  input x: f32[B, 4]\n  input y: f32[B, 4]\n  h = relu(x)\n";
  for (int i = 0; i < 20000; ++i) body += "  h = relu(h)\n";
  body += "  loss = mse_loss(h, y)\n}\n";
  auto graph = Lower(body);
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_NE(graph->FindByName("h_20001"), ir::kNoNode);
}

}  // namespace
}  // namespace kiln::frontend
