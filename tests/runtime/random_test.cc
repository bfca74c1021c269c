#include "runtime/random.h"

#include <cmath>
#include <set>
#include <vector>

#include "gtest/gtest.h"

namespace kiln::runtime {
namespace {

// Reference outputs of splitmix64 seeded with 0 (Vigna's splitmix64.c).
TEST(RngTest, MatchesSplitMix64Reference) {
  Rng rng(0);
  EXPECT_EQ(rng.Next(), 0xe220a8397b1dcdafull);
  EXPECT_EQ(rng.Next(), 0x6e789e6aa1b965f4ull);
  EXPECT_EQ(rng.Next(), 0x06c45d188009454full);
}

TEST(RngTest, BelowStaysInRangeAndHitsEveryValue) {
  Rng rng(7);
  std::vector<int> counts(10, 0);
  for (int i = 0; i < 100000; ++i) {
    const uint64_t v = rng.Below(10);
    ASSERT_LT(v, 10u);
    ++counts[v];
  }
  for (int c : counts) EXPECT_NEAR(c, 10000, 500);
  EXPECT_EQ(rng.Below(1), 0u);
}

TEST(RngTest, UniformAndNormalMoments) {
  Rng rng(42);
  const int n = 200000;
  double sum = 0, sum_sq = 0, uniform_sum = 0;
  for (int i = 0; i < n; ++i) {
    const double u = rng.Uniform01();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    uniform_sum += u;
    const double z = rng.Normal();
    ASSERT_TRUE(std::isfinite(z));
    sum += z;
    sum_sq += z * z;
  }
  EXPECT_NEAR(uniform_sum / n, 0.5, 0.005);
  EXPECT_NEAR(sum / n, 0.0, 0.01);
  EXPECT_NEAR(sum_sq / n - (sum / n) * (sum / n), 1.0, 0.02);
}

TEST(StepKeyTest, DeterministicAndDistinctPerStepAndSeed) {
  EXPECT_EQ(StepKey(3, 100), StepKey(3, 100));
  std::set<int64_t> keys;
  for (int64_t step = 0; step < 1000; ++step) keys.insert(StepKey(3, step));
  EXPECT_EQ(keys.size(), 1000u);
  EXPECT_NE(StepKey(3, 5), StepKey(4, 5));
}

TEST(DeriveSeedTest, StreamsDiffer) {
  EXPECT_NE(DeriveSeed(1, kShuffleStream, 0), DeriveSeed(1, kInitStream, 0));
  EXPECT_NE(DeriveSeed(1, kShuffleStream, 0), DeriveSeed(1, kShuffleStream, 1));
}

}  // namespace
}  // namespace kiln::runtime
