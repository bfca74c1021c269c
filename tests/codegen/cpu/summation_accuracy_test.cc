// Sum reductions are accurate to a few ulps at any length (issue 17): a float32 sum folded left to
// right drifts by ~n/2 ulps (1e-4 relative at n = 10^5, where PyTorch's cascade stays near 1e-7),
// and batch norm turns that drift in its mean into visible gradient error. Each case sums n
// positive float32 values through the real pipeline and JIT and compares with the float64 sum of
// the same values: the error must stay within kUlps units in the last place of the result, for
// n from 10^3 to 10^6 and for every reduction layout the CPU backend plans (a whole vector, the
// rows of a matrix, its columns as in bias gradients, the channels of an NCHW batch as in batch
// norm). A sequential float32 sum fails every case from n = 10^4 on.
#include <cmath>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "ir/graph_builder.h"
#include "tools/graph_runner.h"

namespace kiln::cpu {
namespace {

using ir::DType;
using ir::Shape;

constexpr double kUlps = 4.0;

struct SumCase {
  std::string name;
  Shape shape;
  std::vector<int64_t> dims;
};

// Positive values (so the float64 sum is a meaningful scale): all 0.1, the classic drift case, or
// uniform in [0, 1).
std::vector<double> Values(int64_t n, bool constant) {
  std::vector<double> v(n, static_cast<float>(0.1));
  if (constant) return v;
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> dist(0.0, 1.0);
  for (double& x : v) x = static_cast<float>(dist(rng));
  return v;
}

// The float64 sums of `values` (shape `shape`) over `dims`, in row-major order of the kept dims.
std::vector<double> ReferenceSums(const std::vector<double>& values, const Shape& shape,
                                  const std::vector<int64_t>& dims) {
  std::vector<bool> reduced(shape.size(), false);
  for (int64_t d : dims) reduced[d] = true;
  int64_t outputs = 1;
  for (size_t d = 0; d < shape.size(); ++d) outputs *= reduced[d] ? 1 : shape[d];
  std::vector<double> sums(outputs, 0.0);
  std::vector<int64_t> coords(shape.size(), 0);
  for (double v : values) {
    int64_t out = 0;
    for (size_t d = 0; d < shape.size(); ++d) {
      if (!reduced[d]) out = out * shape[d] + coords[d];
    }
    sums[out] += v;
    for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
      if (++coords[d] < shape[d]) break;
      coords[d] = 0;
    }
  }
  return sums;
}

double UlpOf(double x) {
  float f = static_cast<float>(x);
  return std::nextafter(f, INFINITY) - f;
}

void PrintTo(const SumCase& c, std::ostream* os) { *os << c.name; }

class SummationAccuracyTest : public ::testing::TestWithParam<SumCase> {};

TEST_P(SummationAccuracyTest, WithinAFewUlpsOfFloat64) {
  const SumCase& c = GetParam();
  for (bool constant : {true, false}) {
    ir::Graph graph;
    ir::GraphBuilder b(graph);
    graph.outputs = {{"s", b.ReduceSum(b.Input("x", {DType::kF32, c.shape}), c.dims)}};
    ASSERT_TRUE(b.status().ok()) << b.status();
    auto runner = tools::GraphRunner::Compile(std::move(graph));
    ASSERT_TRUE(runner.ok()) << runner.status();
    std::vector<double> x = Values(ir::NumElements(c.shape), constant);
    ASSERT_TRUE((*runner)->Set("x", x).ok());
    ASSERT_TRUE((*runner)->Run().ok());
    absl::StatusOr<std::vector<double>> got = (*runner)->Read("s");
    ASSERT_TRUE(got.ok()) << got.status();
    std::vector<double> want = ReferenceSums(x, c.shape, c.dims);
    ASSERT_EQ(got->size(), want.size());
    double worst = 0.0;
    for (size_t i = 0; i < want.size(); ++i) {
      worst = std::max(worst, std::abs((*got)[i] - want[i]) / UlpOf(want[i]));
    }
    std::cout << c.name << (constant ? ", all 0.1: " : ", uniform: ") << worst << " ulps\n";
    EXPECT_LE(worst, kUlps) << (constant ? "all 0.1" : "uniform [0, 1)") << ": worst error "
                            << worst << " ulps";
  }
}

std::vector<SumCase> Cases() {
  std::vector<SumCase> cases;
  for (int64_t n : {1000, 10000, 100000, 1000000}) {
    cases.push_back({absl::StrCat("vector_", n), {n}, {0}});
    cases.push_back({absl::StrCat("rows_", n), {3, n}, {1}});
    cases.push_back({absl::StrCat("columns_", n), {n, 3}, {0}});
    // Batch-norm statistics: n values per channel over (N, H, W).
    cases.push_back({absl::StrCat("channels_", n), {n / 25, 2, 5, 5}, {0, 2, 3}});
  }
  cases.push_back({"all_of_a_matrix", {1000, 1000}, {0, 1}});
  cases.push_back({"middle_dim", {2, 100000, 3}, {1}});
  // 1,000 columns x 12 levels exceed the levels' scratch budget: the columns are tiled.
  cases.push_back({"wide_columns_tiled", {4000, 1000}, {0}});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Layouts, SummationAccuracyTest, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace kiln::cpu
