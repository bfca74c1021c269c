// Golden diagnostics: the exact text a user sees for common mistakes in a model body, with the
// location, the source line and the caret.
#include <gtest/gtest.h>

#include "lower_test_util.h"

namespace kiln::frontend {
namespace {

using testing::LowerError;

constexpr char kHeader[] =
    "model m {\n"
    "  input x: f32[B, 784]\n"
    "  input y: i64[B]\n";

TEST(DiagnosticsTest, UnknownOp) {
  EXPECT_EQ(LowerError(std::string(kHeader) +
                       "  h = relux(x)\n"
                       "  loss = cross_entropy(h, y)\n"
                       "}\n"),
            "t.kiln:4:7: error: unknown function 'relux', did you mean 'relu'?\n"
            "    h = relux(x)\n"
            "        ^");
}

// A loss whose target does not fit its input names the op and both types.
TEST(DiagnosticsTest, LossTargetMismatch) {
  std::string message = LowerError(std::string(kHeader) +
                                   "  p = sigmoid(linear(x, 1))\n"
                                   "  loss = binary_cross_entropy(p, y)\n"
                                   "}\n");
  EXPECT_NE(message.find("t.kiln:5:"), std::string::npos) << message;
  EXPECT_NE(message.find("binary_cross_entropy"), std::string::npos) << message;
  EXPECT_NE(message.find("target i64[64] does not match input f32[64,1] (expected f32[64,1])"),
            std::string::npos)
      << message;
  message = LowerError(std::string(kHeader) +
                       "  loss = cross_entropy(linear(x, 10), y, reduction=average)\n"
                       "}\n");
  EXPECT_NE(message.find("reduction must be mean, sum or none, got 'average'"), std::string::npos)
      << message;
}

TEST(DiagnosticsTest, UndefinedName) {
  EXPECT_EQ(LowerError(std::string(kHeader) +
                       "  h2 = relu(x)\n"
                       "  loss = cross_entropy(linear(h3, 10), y)\n"
                       "}\n"),
            "t.kiln:5:31: error: undefined name 'h3', did you mean 'h2'?\n"
            "    loss = cross_entropy(linear(h3, 10), y)\n"
            "                                ^");
}

TEST(DiagnosticsTest, ShapeMismatch) {
  EXPECT_EQ(LowerError(std::string(kHeader) +
                       "  param w: f32[100, 10] = normal(0, 0.01)\n"
                       "  h = matmul(x, w)\n"
                       "  loss = cross_entropy(h, y)\n"
                       "}\n"),
            "t.kiln:5:7: error: matmul 'h': inner dimensions differ: f32[64,784] @ f32[100,10] "
            "(784 vs 100)\n"
            "    h = matmul(x, w)\n"
            "        ^");
}

TEST(DiagnosticsTest, Conv2dChannelMismatch) {
  EXPECT_EQ(LowerError("model m {\n"
                       "  input x: f32[B, 1, 28, 28]\n"
                       "  input y: i64[B]\n"
                       "  c1 = conv2d(x, 1, 8, 3, padding=1)\n"
                       "  c2 = conv2d(c1, 16, 8, 3)\n"
                       "  loss = cross_entropy(flatten(c2), y)\n"
                       "}\n"),
            "t.kiln:5:8: error: conv2d 'c2': input f32[64,8,28,28] has 8 channels but weight "
            "f32[8,16,3,3] expects 16 (in_channels/groups = 16, groups 1)\n"
            "    c2 = conv2d(c1, 16, 8, 3)\n"
            "         ^");
}

TEST(DiagnosticsTest, ShapeMismatchInInfixOperator) {
  std::string message = LowerError(std::string(kHeader) +
                                   "  param b: f32[10] = zeros\n"
                                   "  h = x + b\n"
                                   "  loss = cross_entropy(h, y)\n"
                                   "}\n");
  EXPECT_EQ(message.rfind("t.kiln:5:9: error: add 'h': ", 0), 0u) << message;
  EXPECT_NE(message.find("\n    h = x + b\n          ^"), std::string::npos) << message;
}

TEST(DiagnosticsTest, UnknownKeywordArgument) {
  EXPECT_EQ(LowerError(std::string(kHeader) +
                       "  h = linear(x, 10, bais=false)\n"
                       "  loss = cross_entropy(h, y)\n"
                       "}\n"),
            "t.kiln:4:21: error: linear has no argument 'bais', did you mean 'bias'?\n"
            "    h = linear(x, 10, bais=false)\n"
            "                      ^");
}

TEST(DiagnosticsTest, WrongArgumentKind) {
  EXPECT_EQ(LowerError(std::string(kHeader) +
                       "  h = softmax(x, dim=0.5)\n"
                       "  loss = cross_entropy(h, y)\n"
                       "}\n"),
            "t.kiln:4:22: error: softmax: 'dim' must be an integer, got 0.5\n"
            "    h = softmax(x, dim=0.5)\n"
            "                       ^");
}

TEST(DiagnosticsTest, MissingLoss) {
  EXPECT_EQ(LowerError("model m {\n  input x: f32[B, 2]\n  out = relu(x)\n}\n"),
            "t.kiln:1:7: error: model 'm' must bind 'loss' (e.g. loss = nll_loss(logp, y))\n"
            "  model m {\n"
            "        ^");
}

TEST(DiagnosticsTest, LossMustBeScalar) {
  EXPECT_EQ(LowerError(std::string(kHeader) + "  loss = relu(x)\n}\n"),
            "t.kiln:4:3: error: loss must be an f32 scalar, got f32[64,784]\n"
            "    loss = relu(x)\n"
            "    ^");
}

TEST(DiagnosticsTest, DuplicateParameter) {
  std::string message = LowerError(std::string(kHeader) +
                                   "  h = linear(x, 10)\n"
                                   "  h = linear(h, 10)\n"
                                   "  loss = cross_entropy(h, y)\n"
                                   "}\n");
  EXPECT_EQ(message.rfind("t.kiln:5:7: error: parameter 'h.weight' already exists (created at "
                          "t.kiln:4:7); give this layer another name with name=...",
                          0),
            0u)
      << message;
}

TEST(DiagnosticsTest, UnboundDimension) {
  EXPECT_EQ(LowerError(std::string(kHeader) + "  loss = reduce_mean(x)\n}\n", {}),
            "t.kiln:2:16: error: dimension 'B' has no value; bind it when compiling (e.g. B=64)\n"
            "    input x: f32[B, 784]\n"
            "                 ^");
}

TEST(DiagnosticsTest, UnknownDtype) {
  EXPECT_NE(LowerError("model m {\n  input x: f23[B, 2]\n}\n")
                .find("2:12: error: unknown dtype 'f23', did you mean 'f32'?"),
            std::string::npos);
}

TEST(DiagnosticsTest, BlockErrors) {
  EXPECT_NE(LowerError("block b(x) {\n  return b(x)\n}\n"
                       "model m {\n  input x: f32[B, 2]\n  loss = reduce_mean(b(x))\n}\n")
                .find("2:10: error: block 'b' calls itself; recursion is not supported"),
            std::string::npos);
  EXPECT_NE(LowerError("block b(x, n) {\n  return linear(x, n)\n}\n"
                       "model m {\n  input x: f32[B, 2]\n  loss = reduce_mean(b(x))\n}\n")
                .find("6:22: error: b: missing argument 'n'"),
            std::string::npos);
  EXPECT_NE(LowerError("block relu(x) {\n  return x\n}\nmodel m {\n  loss = 1\n}\n")
                .find("1:7: error: block 'relu' has the name of a builtin"),
            std::string::npos);
  // Block bodies see only their arguments, not the caller's names.
  EXPECT_NE(LowerError("block b(x) {\n  return x + y\n}\n"
                       "model m {\n  input x: f32[B, 2]\n  input y: f32[B, 2]\n"
                       "  loss = reduce_mean(b(x))\n}\n")
                .find("2:14: error: undefined name 'y'"),
            std::string::npos);
}

TEST(DiagnosticsTest, OpArgumentErrors) {
  EXPECT_NE(LowerError(std::string(kHeader) + "  loss = relu(x, x)\n}\n")
                .find("4:18: error: relu takes at most 1 argument"),
            std::string::npos);
  EXPECT_NE(LowerError(std::string(kHeader) +
                       "  loss = cross_entropy(linear(x, 10), y, reduction=avg)\n}\n")
                .find("4:10: error: cross_entropy: reduction must be mean, sum or none, got 'avg'"),
            std::string::npos);
  EXPECT_NE(LowerError(std::string(kHeader) + "  h = dropout(x, p=1.5)\n  loss = 1\n}\n")
                .find("dropout probability must be in [0, 1), got 1.5"),
            std::string::npos);
  EXPECT_NE(LowerError(std::string(kHeader) + "  loss = linear(x, 0)\n}\n")
                .find("out_features must be positive"),
            std::string::npos);
}

TEST(DiagnosticsTest, BatchNormOfTheWrongRank) {
  EXPECT_EQ(LowerError(std::string(kHeader) +
                       "  h = batch_norm2d(x)\n"
                       "  loss = cross_entropy(h, y)\n"
                       "}\n"),
            "t.kiln:4:7: error: batch_norm2d 'h': expects an f32 input [N, C, H, W], got "
            "f32[64,784]\n"
            "    h = batch_norm2d(x)\n"
            "        ^");
}

TEST(DiagnosticsTest, BatchNormNumFeaturesMismatch) {
  EXPECT_EQ(LowerError(std::string(kHeader) +
                       "  h = batch_norm1d(x, 256)\n"
                       "  loss = cross_entropy(linear(h, 10), y)\n"
                       "}\n"),
            "t.kiln:4:23: error: batch_norm1d: num_features is 256 but input f32[64,784] has 784 "
            "channels (dim 1)\n"
            "    h = batch_norm1d(x, 256)\n"
            "                        ^");
}

}  // namespace
}  // namespace kiln::frontend
