// End-to-end: a run whose loss or parameters stop being finite ends with one line naming the op
// that produced the first NaN or infinity, and exit status 1; a finite loss, however large, does
// not stop a run.
#include <algorithm>
#include <string>

#include "gtest/gtest.h"
#include "tests/e2e/kiln_process.h"

namespace kiln {
namespace {

using e2e::Describe;
using e2e::RunKiln;
using e2e::RunResult;
using e2e::Succeeded;
using e2e::TempDir;

// A regression model on synthetic data (no files needed) whose line 5 is `hidden`.
std::string Model(const std::string& hidden, const std::string& loss, const std::string& lr) {
  return "model m {\n"
         "  input x: f32[B, 10]\n"
         "  input y: f32[B, 1]\n"
         "\n"
         "  h = " + hidden + "\n"
         "  prediction = linear(h, 1, name=out)\n"
         "  loss = " + loss + "\n"
         "}\n"
         "train {\n"
         "  data = make_regression(n_samples=200, n_features=10, seed=42, standardize=true)\n"
         "  optimizer = sgd(lr=" + lr + ")\n"
         "  batch_size = 50\n"
         "  epochs = 2\n"
         "  seed = 0\n"
         "}\n";
}

// Exit status 1 and exactly one line on stderr.
void ExpectOneLineError(const RunResult& r) {
  EXPECT_TRUE(r.exited && r.exit_code == 1) << Describe(r);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << Describe(r);
}

// Standardized features are mostly within [-3, 3], so log(x - 10) is NaN everywhere. relu used
// to turn that NaN into 0 and the run "trained"; now the NaN reaches the loss at the first step.
TEST(NonFiniteTest, ReluOfNaNStopsTheRunNamingTheLog) {
  TempDir dir;
  const auto model = dir.Write("model.kiln", Model("relu(log(x - 10))",
                                                   "mse_loss(prediction, y)", "0.01"));
  RunResult r = RunKiln({"train", model.string()});
  ExpectOneLineError(r);
  EXPECT_NE(r.err.find("epoch 1 step 1: loss is nan; first non-finite value (nan) produced by "
                       "'log' (" + model.string() + ":5:12) in the forward pass"),
            std::string::npos)
      << Describe(r);
  EXPECT_EQ(r.out.find("epoch 1/"), std::string::npos) << Describe(r);
}

// lr 1e10 makes the second step's prediction so large that its square overflows: the loss is
// inf, and the error names the mse_loss line.
TEST(NonFiniteTest, HugeLearningRateOverflowsTheLossToInfinity) {
  TempDir dir;
  const auto model = dir.Write("model.kiln", Model("relu(linear(x, 16, name=fc1))",
                                                   "mse_loss(prediction, y)", "1e10"));
  RunResult r = RunKiln({"train", model.string()});
  ExpectOneLineError(r);
  EXPECT_NE(r.err.find("epoch 1 step 2: loss is inf; first non-finite value (inf) produced by "
                       "'mul' (" + model.string() + ":7:10) in the forward pass"),
            std::string::npos)
      << Describe(r);
}

// With lr 1e37 the first update itself overflows (lr * gradient): the loss of step 2 is NaN,
// and the replay finds the first non-finite value in step 1's update, on the optimizer's line.
TEST(NonFiniteTest, OverflowingUpdateIsFoundInTheStepBefore) {
  TempDir dir;
  const auto model = dir.Write("model.kiln", Model("relu(linear(x, 16, name=fc1))",
                                                   "mse_loss(prediction, y)", "1e37"));
  RunResult r = RunKiln({"train", model.string()});
  ExpectOneLineError(r);
  EXPECT_NE(r.err.find("epoch 1 step 2: loss is "), std::string::npos) << Describe(r);
  EXPECT_NE(r.err.find(":11:15) in the update step (at step 1)"), std::string::npos)
      << Describe(r);
}

// A loss of ~1e29 is finite: PyTorch would go on, and so does kiln.
TEST(NonFiniteTest, FiniteButHugeLossIsNotAnError) {
  TempDir dir;
  const auto model =
      dir.Write("model.kiln", Model("x * 1", "mse_loss(prediction * 1e15, y)", "1e-32"));
  RunResult r = RunKiln({"train", model.string()});
  ASSERT_TRUE(Succeeded(r)) << Describe(r);
  EXPECT_NE(r.out.find("epoch 2/2  train_loss "), std::string::npos) << Describe(r);
  EXPECT_EQ(r.out.find("train_loss -"), std::string::npos) << Describe(r);
}

}  // namespace
}  // namespace kiln
