#include "runtime/batcher.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <numeric>
#include <vector>

#include "gtest/gtest.h"

namespace kiln::runtime {
namespace {

bool IsPermutation(std::vector<int64_t> order) {
  std::sort(order.begin(), order.end());
  for (size_t i = 0; i < order.size(); ++i) {
    if (order[i] != static_cast<int64_t>(i)) return false;
  }
  return true;
}

TEST(ShuffledOrderTest, SameSeedAndEpochGiveTheSameOrder) {
  EXPECT_EQ(ShuffledOrder(1000, 42, 3), ShuffledOrder(1000, 42, 3));
}

TEST(ShuffledOrderTest, EpochsAndSeedsGiveDifferentOrders) {
  EXPECT_NE(ShuffledOrder(1000, 42, 1), ShuffledOrder(1000, 42, 2));
  EXPECT_NE(ShuffledOrder(1000, 42, 1), ShuffledOrder(1000, 43, 1));
  EXPECT_NE(ShuffledOrder(1000, 42, 1), IdentityOrder(1000));
}

TEST(ShuffledOrderTest, IsAPermutation) {
  for (int64_t n : {0, 1, 2, 17, 60000}) {
    EXPECT_TRUE(IsPermutation(ShuffledOrder(n, 7, 1))) << n;
  }
}

// Pins the algorithm: a change to the generator or the shuffle changes every trained model, so
// it must be deliberate. Values from an independent Python transcription of splitmix64 +
// Lemire + Durstenfeld.
TEST(ShuffledOrderTest, OrderIsPinned) {
  EXPECT_EQ(ShuffledOrder(10, 0, 1), (std::vector<int64_t>{3, 7, 0, 6, 2, 4, 5, 1, 9, 8}));
}

// Every sample lands at every position about equally often: no bias toward the identity.
TEST(ShuffledOrderTest, PositionsAreUniform) {
  const int n = 5, trials = 20000;
  std::vector<int> counts(n * n, 0);
  for (int t = 0; t < trials; ++t) {
    const std::vector<int64_t> order = ShuffledOrder(n, 1, t);
    for (int pos = 0; pos < n; ++pos) ++counts[pos * n + order[pos]];
  }
  for (int c : counts) EXPECT_NEAR(c, trials / n, 250);
}

Dataset MakeData(int64_t n, int64_t dim) {
  Dataset data;
  data.num_samples = n;
  data.feature_dim = dim;
  data.sample_shape = {dim};
  for (int64_t i = 0; i < n; ++i) {
    data.labels.push_back(i % 10);
    for (int64_t d = 0; d < dim; ++d) data.features.push_back(static_cast<float>(i * 100 + d));
  }
  return data;
}

TEST(BatcherTest, LastBatchIsShort) {
  const Dataset data = MakeData(10, 3);
  Batcher batcher(data, 4, IdentityOrder(10));
  ASSERT_EQ(batcher.num_batches(), 3);
  EXPECT_EQ(batcher.BatchRows(0), 4);
  EXPECT_EQ(batcher.BatchRows(2), 2);
  std::vector<float> x(4 * 3, -1.0f);
  std::vector<int64_t> y(4, -1);
  EXPECT_EQ(batcher.Gather(2, x.data(), y.data()), 2);
  EXPECT_EQ(std::vector<float>(x.begin(), x.begin() + 6),
            (std::vector<float>{800, 801, 802, 900, 901, 902}));
  EXPECT_EQ(y, (std::vector<int64_t>{8, 9, -1, -1}));
  EXPECT_EQ(x[6], -1.0f);  // Rows past the batch are untouched.
}

TEST(BatcherTest, GathersInShuffledOrderAndCoversEverySample) {
  const Dataset data = MakeData(23, 2);
  const std::vector<int64_t> order = ShuffledOrder(23, 5, 1);
  Batcher batcher(data, 8, order);
  std::vector<int64_t> seen;
  std::vector<float> x(8 * 2);
  std::vector<int64_t> y(8);
  for (int64_t b = 0; b < batcher.num_batches(); ++b) {
    const int64_t rows = batcher.Gather(b, x.data(), y.data());
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t sample = static_cast<int64_t>(x[r * 2]) / 100;
      EXPECT_EQ(sample, order[b * 8 + r]);
      EXPECT_EQ(x[r * 2 + 1], sample * 100 + 1);
      EXPECT_EQ(y[r], sample % 10);
      seen.push_back(sample);
    }
  }
  EXPECT_EQ(seen.size(), 23u);
  EXPECT_TRUE(IsPermutation(seen));
}

// Every feature of every row lands in place: rows of whole 64-byte pieces plus a tail, in
// batches that are not a multiple of the rows copied together.
TEST(BatcherTest, GathersEveryFeatureOfEveryRow) {
  for (int64_t dim : {1, 16, 37}) {
    const Dataset data = MakeData(30, dim);
    const std::vector<int64_t> order = ShuffledOrder(30, 3, 1);
    Batcher batcher(data, 11, order);
    std::vector<float> x(11 * dim);
    std::vector<int64_t> y(11);
    for (int64_t b = 0; b < batcher.num_batches(); ++b) {
      const int64_t rows = batcher.Gather(b, x.data(), y.data());
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t d = 0; d < dim; ++d) {
          ASSERT_EQ(x[r * dim + d], static_cast<float>(order[b * 11 + r] * 100 + d))
              << "dim " << dim << " batch " << b << " row " << r << " feature " << d;
        }
      }
    }
  }
}

TEST(BatcherTest, PoolGatherMatchesOneThreadWithTargets) {
  // Rows of 1,000 features: a batch of 16 is over kParallelGatherBytes, so the pool splits it.
  Dataset data = MakeData(40, 1000);
  data.target_dim = 3;
  for (int64_t i = 0; i < 40 * 3; ++i) data.targets.push_back(static_cast<float>(i));
  ASSERT_GE(16 * 1000 * int64_t{sizeof(float)}, Batcher::kParallelGatherBytes);
  Batcher batcher(data, 16, ShuffledOrder(40, 9, 2));
  ThreadPool pool(2);
  for (int64_t b = 0; b < batcher.num_batches(); ++b) {
    std::vector<float> x1(16 * 1000, -1), x2(16 * 1000, -2), t1(16 * 3, -1), t2(16 * 3, -2);
    std::vector<int64_t> y1(16, -1), y2(16, -2);
    const int64_t rows = batcher.Gather(b, {x1.data(), y1.data(), t1.data()});
    ASSERT_EQ(batcher.Gather(b, {x2.data(), y2.data(), t2.data()}, &pool), rows);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t sample = static_cast<int64_t>(x1[r * 1000]) / 100;
      EXPECT_EQ(t1[r * 3 + 2], static_cast<float>(sample * 3 + 2));
    }
    EXPECT_TRUE(std::equal(x1.begin(), x1.begin() + rows * 1000, x2.begin()));
    EXPECT_TRUE(std::equal(y1.begin(), y1.begin() + rows, y2.begin()));
    EXPECT_TRUE(std::equal(t1.begin(), t1.begin() + rows * 3, t2.begin()));
  }
}

// Data held as 8-bit pixels gathers the bits the same data as f32 features does: decoded (CPUs
// with AVX2) or, without a decoder (a transform it would round differently), looked up one by
// one; with and without the pool, short last batch included.
TEST(BatcherTest, GatheringPixelsGivesTheFeaturesBits) {
  constexpr int64_t kSamples = 50, kDim = 28 * 28;
  Dataset pixels;
  pixels.num_samples = kSamples;
  pixels.feature_dim = kDim;
  pixels.sample_shape = {28, 28};
  for (int p = 0; p < 256; ++p) {
    pixels.pixel_transform.values[p] = static_cast<float>((p * (1.0 / 255) - 0.2860) / 0.3530);
  }
  pixels.pixel_transform.slope = (1.0 / 255) / 0.3530;
  pixels.pixel_transform.intercept = -0.2860 / 0.3530;
  for (int64_t i = 0; i < kSamples * kDim; ++i) {
    pixels.pixels.push_back(static_cast<uint8_t>((i * 131 + i / kDim) % 256));
  }
  for (int64_t i = 0; i < kSamples; ++i) pixels.labels.push_back(i % 10);
  Dataset floats = pixels;
  floats.pixels.clear();
  floats.features.resize(kSamples * kDim);
  pixels.CopyFeatures(0, kSamples, floats.features.data());
  ASSERT_EQ(floats.features[kDim + 3], pixels.pixel_transform.values[pixels.pixels[kDim + 3]]);
  Dataset undecodable = pixels;  // A value the decoder's multiply-add misses by one ulp.
  float& value = undecodable.pixel_transform.values[pixels.pixels[5]];
  value = std::nextafter(value, 10.0f);
  Dataset undecodable_floats = undecodable;
  undecodable_floats.pixels.clear();
  undecodable_floats.features.resize(kSamples * kDim);
  undecodable.CopyFeatures(0, kSamples, undecodable_floats.features.data());

  ThreadPool pool(2);
  const std::vector<int64_t> order = ShuffledOrder(kSamples, 4, 1);
  ASSERT_GE(16 * kDim * int64_t{sizeof(float)}, Batcher::kParallelGatherBytes);  // Pool splits.
  for (const auto& [from, expected] :
       {std::pair<const Dataset*, const Dataset*>{&pixels, &floats},
        std::pair<const Dataset*, const Dataset*>{&undecodable, &undecodable_floats}}) {
    Batcher from_pixels(*from, 16, order), from_floats(*expected, 16, order);
    if (PixelDecoder::CpuSupported()) {
      EXPECT_EQ(from_pixels.decodes_pixels(), from == &pixels);
    }
    EXPECT_FALSE(from_floats.decodes_pixels());
    for (ThreadPool* threads : {static_cast<ThreadPool*>(nullptr), &pool}) {
      for (int64_t b = 0; b < from_pixels.num_batches(); ++b) {
        std::vector<float> x1(16 * kDim, -1), x2(16 * kDim, -2);
        std::vector<int64_t> y1(16, -1), y2(16, -2);
        const int64_t rows = from_pixels.Gather(b, {x1.data(), y1.data()}, threads);
        ASSERT_EQ(from_floats.Gather(b, {x2.data(), y2.data()}, threads), rows);
        ASSERT_EQ(std::memcmp(x1.data(), x2.data(), rows * kDim * sizeof(float)), 0)
            << "batch " << b;
        if (rows < 16) EXPECT_EQ(x1[rows * kDim], -1.0f);  // Past a short batch: untouched.
        EXPECT_TRUE(std::equal(y1.begin(), y1.begin() + rows, y2.begin()));
      }
    }
  }
}

}  // namespace
}  // namespace kiln::runtime
