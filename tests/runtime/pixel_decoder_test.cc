#include "runtime/pixel_decoder.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"

namespace kiln::runtime {
namespace {

// The transform as the image loader computes it (runtime/dataset.cc): in double, rounded once.
PixelTransform TransformOf(double scale, double mean, double stddev) {
  PixelTransform transform;
  transform.slope = scale / stddev;
  transform.intercept = -mean / stddev;
  for (int p = 0; p < 256; ++p) {
    transform.values[p] = static_cast<float>((p * scale - mean) / stddev);
  }
  return transform;
}

bool SameBits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

// The recipes' transforms (Fashion-MNIST's, plain scaling, MNIST's and Fashion-MNIST's own
// statistics) decode to the loader's bits for every byte, at every length (the vector body and
// each tail).
TEST(PixelDecoderTest, DecodesTheLoadersBitsForEveryByte) {
  if (!PixelDecoder::CpuSupported())
    GTEST_SKIP() << "no AVX2 and FMA: the batcher copies f32 features";
  for (const PixelTransform& transform :
       {TransformOf(1.0 / 255, 0.5, 0.5), TransformOf(1.0 / 255, 0.0, 1.0),
        TransformOf(1.0 / 255, 0.1307, 0.3081), TransformOf(1.0 / 255, 0.2860, 0.3530)}) {
    const std::optional<PixelDecoder> decoder = PixelDecoder::Create(transform);
    ASSERT_TRUE(decoder.has_value()) << "slope " << transform.slope;
    std::vector<uint8_t> pixels(300);
    for (size_t i = 0; i < pixels.size(); ++i)
      pixels[i] = static_cast<uint8_t>((i * 37 + 11) % 256);
    for (int64_t count : {1, 7, 8, 9, 15, 16, 17, 256, 300}) {
      std::vector<float> features(count + 1, -7.0f);
      decoder->Decode(pixels.data(), count, features.data());
      for (int64_t i = 0; i < count; ++i) {
        ASSERT_TRUE(SameBits(features[i], transform.values[pixels[i]]))
            << "count " << count << " pixel " << int{pixels[i]} << ": " << features[i] << " vs "
            << transform.values[pixels[i]];
      }
      EXPECT_EQ(features[count], -7.0f) << "wrote past count " << count;
    }
  }
}

// A value the multiply-add cannot reproduce (one ulp off), or a line that is not finite: no
// decoder, so nothing decodes differently from the features.
TEST(PixelDecoderTest, RefusesValuesItWouldRoundDifferently) {
  PixelTransform off = TransformOf(1.0 / 255, 0.5, 0.5);
  off.values[200] = std::nextafter(off.values[200], 2.0f);
  EXPECT_FALSE(PixelDecoder::Create(off).has_value());
  PixelTransform infinite = TransformOf(1.0 / 255, 0.5, 0.5);
  infinite.slope = INFINITY;
  EXPECT_FALSE(PixelDecoder::Create(infinite).has_value());
  PixelTransform signed_zero = TransformOf(1.0 / 255, 0.0, 1.0);
  signed_zero.values[0] = -0.0f;  // Equal as a value, not as bits.
  EXPECT_FALSE(PixelDecoder::Create(signed_zero).has_value());
}

}  // namespace
}  // namespace kiln::runtime
