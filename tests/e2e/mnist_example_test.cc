// End-to-end: W4's MNIST dropout MLP (examples/mnist_dropout_mlp.kiln) trains on a slice of the
// 10,000-digit MNIST subset and prints the per-class test report its metrics ask for.
#include <regex>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/e2e/kiln_process.h"

namespace kiln {
namespace {

using e2e::Describe;
using e2e::RunKiln;
using e2e::RunResult;

constexpr char kMnistDir[] = "../shared/data/mnist-10k";

TEST(MnistExampleTest, TrainsOnASliceAndReportsPerClassAccuracy) {
  if (!std::filesystem::exists(std::string(kMnistDir) + "/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << kMnistDir << " is not on this machine";
  }
  const RunResult r = RunKiln({"train", "examples/mnist_dropout_mlp.kiln", "--epochs", "1",
                               "--train-limit", "2000", "--test-limit", "500", "--threads", "2"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.out.find("Test Loss: "), std::string::npos) << Describe(r);
  // One line per digit present in the 500 test samples (all ten are), then the overall line.
  const std::regex per_class(R"(Test Accuracy of (\d): (\d+)% \((\d+)/(\d+)\))");
  int classes = 0, total = 0;
  for (auto it = std::sregex_iterator(r.out.begin(), r.out.end(), per_class);
       it != std::sregex_iterator(); ++it) {
    ++classes;
    total += std::stoi((*it)[4]);
    EXPECT_LE(std::stoi((*it)[3]), std::stoi((*it)[4])) << it->str();
  }
  EXPECT_EQ(classes, 10) << Describe(r);
  EXPECT_EQ(total, 500) << Describe(r);
  std::smatch overall;
  ASSERT_TRUE(std::regex_search(r.out, overall,
                                std::regex(R"(Test Accuracy \(Overall\): (\d+)% \((\d+)/500\))")))
      << Describe(r);
  // One epoch on 2,000 digits gets most of them right (chance is 50 of 500).
  EXPECT_GE(std::stoi(overall[2]), 300) << Describe(r);
}

// The CLI switch turns the report on for a model whose metrics do not ask for it.
TEST(MnistExampleTest, PerClassSwitch) {
  const RunResult r = RunKiln({"train", "examples/binary_classifier.kiln", "--epochs", "1",
                               "--threads", "1", "--per-class"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.out.find("Test Accuracy of 0: "), std::string::npos) << Describe(r);
  EXPECT_NE(r.out.find("Test Accuracy of 1: "), std::string::npos) << Describe(r);
  EXPECT_NE(r.out.find("Test Accuracy (Overall): "), std::string::npos) << Describe(r);
}

}  // namespace
}  // namespace kiln
