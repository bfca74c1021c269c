// End-to-end for the spatial ops: examples/fashion_cnn.kiln (conv2d, max_pool2d, flatten) trains
// on a slice of Fashion-MNIST with the real `kiln` binary, and the pooling and slicing ops are
// reachable from the model language with PyTorch's keyword arguments.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

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

TEST(CnnExampleTest, TrainsOnASliceOfFashionMnist) {
  if (!HaveFashionMnist()) GTEST_SKIP() << kFashionMnistDir << " is not installed";
  TrainRun r = TrainWithMetrics({"examples/fashion_cnn.kiln", "--epochs", "1", "--train-limit",
                                 "3000", "--test-limit", "500"});
  ASSERT_TRUE(Succeeded(r.run)) << Describe(r.run);
  ASSERT_FALSE(r.metrics.empty()) << "no metrics file written\n" << r.run.err;
  // Chance is 10% accuracy and a loss of log(10) = 2.30.
  EXPECT_GE(JsonNumber(r.metrics, "test_accuracy"), 0.65) << r.metrics;
  EXPECT_LT(JsonNumber(r.metrics, "train_loss"), 1.2) << r.metrics;
}

// The pooling, slicing, padding and concatenation builtins lower to their IR ops.
TEST(CnnExampleTest, SpatialOpsAreCallableFromTheModelLanguage) {
  TempDir dir;
  fs::path model = dir.path() / "ops.kiln";
  std::ofstream(model)
      << "model ops {\n"
         "  input x: f32[B, 2, 8, 8]\n"
         "  input y: i64[B]\n"
         "  c = conv2d(x, 2, 4, [3, 2], stride=[1, 2], padding=1, dilation=1, groups=2)\n"
         "  m = max_pool2d(c, 2, stride=2, padding=1)\n"
         "  a = avg_pool2d(pad(m, [1, 0, 0, 1], value=0.5), kernel_size=2, stride=1, "
         "padding=1, count_include_pad=false)\n"
         "  s = slice(a, dim=-1, start=1, stop=-1, step=2)\n"
         "  j = concat(s, slice(a, 3, 0, 1), dim=3)\n"
         "  loss = cross_entropy(linear(flatten(j), 10, name=out), y)\n"
         "}\n"
         "train {\n"
         "  optimizer = sgd(lr=0.1)\n"
         "  batch_size = 4\n"
         "}\n";
  RunResult r = RunKiln({"compile", model.string(), "--emit=ir", "--mode=train"});
  ASSERT_TRUE(Succeeded(r)) << r.out << r.err;
  for (const char* op : {"im2col(", "col2im(", "slice(", "pad(", "concat(", "argmax(", "matmul("}) {
    EXPECT_NE(r.out.find(std::string("= ") + op), std::string::npos) << op << "\n" << r.out;
  }
  // And the whole step compiles to machine code.
  r = RunKiln({"compile", model.string(), "--emit=obj", "-o", (dir.path() / "ops.o").string()});
  ASSERT_TRUE(Succeeded(r)) << r.out << r.err;
}

}  // namespace
}  // namespace kiln
