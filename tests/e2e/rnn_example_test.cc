// End-to-end for the RNN layer: examples/rnn_regression.kiln (W5's simple RNN with global-norm
// clipping) trains with the real `kiln` binary on its synthetic sequences and the loss falls, and
// a wrong h0 shape fails at compile time with the position and both shapes.
#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/e2e/kiln_process.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using e2e::Describe;
using e2e::JsonNumber;
using e2e::ReadFile;
using e2e::RunKiln;
using e2e::RunResult;
using e2e::Succeeded;
using e2e::TempDir;

TEST(RnnExampleTest, LossFallsOnTheSyntheticSequences) {
  TempDir dir;
  fs::path metrics = dir.path() / "metrics.json";
  RunResult r = RunKiln({"train", "examples/rnn_regression.kiln", "--epochs", "3", "--metrics-out",
                         metrics.string()});
  ASSERT_TRUE(Succeeded(r)) << Describe(r);
  std::string json = ReadFile(metrics);
  ASSERT_FALSE(json.empty()) << "no metrics file written\n" << Describe(r);
  // The targets / 100 have a variance near 1: predicting their mean scores about 1.
  const double first = JsonNumber(json, "train_loss");
  const double last = JsonNumber(json.substr(json.rfind("\"epoch\"")), "train_loss");
  EXPECT_LT(last, 0.6 * first) << json;
}

TEST(RnnExampleTest, WrongInitialStateShapeIsACompileError) {
  TempDir dir;
  fs::path model = dir.path() / "bad_rnn.kiln";
  std::ofstream(model) << "model bad_rnn {\n"
                          "  input x: f32[B, 5, 10]\n"
                          "  input y: f32[B, 1]\n"
                          "  h0 = reshape(x, [B, 50])\n"
                          "  out = rnn(x, 20, h0=h0)\n"
                          "  loss = reduce_mean(out)\n"
                          "}\n"
                          "train {\n  optimizer = sgd(lr=0.1)\n  batch_size = 4\n}\n";
  RunResult r = RunKiln({"compile", model.string()});
  EXPECT_TRUE(r.exited && r.exit_code == 1) << Describe(r);
  EXPECT_NE(r.err.find("bad_rnn.kiln:5:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("f32[4,50]"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("[4,20]"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace kiln
