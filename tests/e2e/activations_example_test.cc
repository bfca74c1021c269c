// End-to-end for the activation and moment ops: examples/activations_mlp.kiln (gelu, tanh,
// leaky_relu, clamp, std, reduce_mean with dim=) trains on a slice of Fashion-MNIST with the real
// `kiln` binary, and every new op is reachable from the model language with PyTorch's keyword
// arguments.
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/e2e/kiln_process.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using e2e::Describe;
using e2e::HaveFashionMnist;
using e2e::JsonNumber;
using e2e::kFashionMnistDir;
using e2e::ReadFile;
using e2e::RunKiln;
using e2e::RunResult;
using e2e::Succeeded;
using e2e::TempDir;
using e2e::TrainRun;
using e2e::TrainWithMetrics;

TEST(ActivationsExampleTest, TrainsOnASliceOfFashionMnist) {
  if (!HaveFashionMnist()) GTEST_SKIP() << kFashionMnistDir << " is not installed";
  TrainRun r = TrainWithMetrics({"examples/activations_mlp.kiln", "--epochs", "1",
                                 "--train-limit", "4000", "--test-limit", "1000"});
  ASSERT_TRUE(Succeeded(r.run)) << Describe(r.run);
  ASSERT_FALSE(r.metrics.empty()) << "no metrics file written\n" << r.run.err;
  // Chance is 10% accuracy and a loss of log(10) = 2.30.
  EXPECT_GE(JsonNumber(r.metrics, "test_accuracy"), 0.65) << r.metrics;
  EXPECT_LT(JsonNumber(r.metrics, "train_loss"), 1.2) << r.metrics;
}

// Every new op, called with PyTorch's keyword arguments, lowers to its IR op.
TEST(ActivationsExampleTest, NewOpsAreCallableFromTheModelLanguage) {
  TempDir dir;
  fs::path model = dir.path() / "ops.kiln";
  std::ofstream(model) << "model ops {\n"
                          "  input x: f32[B, 12]\n"
                          "  input y: i64[B]\n"
                          "  h = linear(x, 12, name=fc)\n"
                          "  a = abs(h) + sigmoid(h) + tanh(h) + gelu(h)\n"
                          "  b = leaky_relu(a, negative_slope=0.2) + clamp(h, min=-1, max=1)\n"
                          "  c = minimum(b, clamp(h, max=0.5)) + reduce_min(h, dim=1, "
                          "keepdim=true)\n"
                          "  d = c + var(h, 1, keepdim=true) + std(h, dim=-1, unbiased=false, "
                          "keepdim=true)\n"
                          "  e = d - reduce_max(h, dims=[1], keepdim=true)\n"
                          "  loss = cross_entropy(e, y)\n"
                          "}\n"
                          "train {\n"
                          "  optimizer = sgd(lr=0.1)\n"
                          "  batch_size = 4\n"
                          "}\n";
  // The eval graph keeps the forward ops; composites (var, std) are expanded into primitives.
  RunResult r = RunKiln({"compile", model.string(), "--emit=ir", "--mode=eval"});
  ASSERT_TRUE(Succeeded(r)) << r.out << r.err;
  for (const char* op : {"abs(", "sigmoid(", "tanh(", "gelu(", "leaky_relu(", "clamp(",
                         "minimum(", "reduce_min(", "reduce_max("}) {
    EXPECT_NE(r.out.find(std::string("= ") + op), std::string::npos) << op << "\n" << r.out;
  }
  EXPECT_NE(r.out.find("negative_slope=0.2"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace kiln
