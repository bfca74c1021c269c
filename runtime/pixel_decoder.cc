#include "runtime/pixel_decoder.h"

#include <immintrin.h>

#include <cmath>
#include <cstring>

namespace kiln::runtime {
namespace {

// The runtime is built for any x86-64 (AOT programs included), so this one function is compiled
// for AVX2 + FMA and called only on CPUs that have them.
__attribute__((target("avx2,fma"))) void DecodeAvx2(const uint8_t* pixels, int64_t count,
                                                    float* features, double slope,
                                                    double intercept) {
  const __m256d slopes = _mm256_set1_pd(slope);
  const __m256d intercepts = _mm256_set1_pd(intercept);
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m256i bytes =
        _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(pixels + i)));
    const __m256d low = _mm256_cvtepi32_pd(_mm256_castsi256_si128(bytes));
    const __m256d high = _mm256_cvtepi32_pd(_mm256_extracti128_si256(bytes, 1));
    _mm_storeu_ps(features + i, _mm256_cvtpd_ps(_mm256_fmadd_pd(low, slopes, intercepts)));
    _mm_storeu_ps(features + i + 4, _mm256_cvtpd_ps(_mm256_fmadd_pd(high, slopes, intercepts)));
  }
  // The last count % 8 pixels through the same instructions, from a padded copy.
  if (i < count) {
    uint8_t tail_pixels[8] = {};
    float tail_features[8];
    std::memcpy(tail_pixels, pixels + i, count - i);
    DecodeAvx2(tail_pixels, 8, tail_features, slope, intercept);
    std::memcpy(features + i, tail_features, (count - i) * sizeof(float));
  }
}

}  // namespace

bool PixelDecoder::CpuSupported() {
  static const bool supported = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return supported;
}

std::optional<PixelDecoder> PixelDecoder::Create(const PixelTransform& transform) {
  if (!CpuSupported() || !std::isfinite(transform.slope) || !std::isfinite(transform.intercept)) {
    return std::nullopt;
  }
  const PixelDecoder decoder(transform.slope, transform.intercept);
  uint8_t every_byte[256];
  for (int p = 0; p < 256; ++p) every_byte[p] = static_cast<uint8_t>(p);
  std::array<float, 256> decoded;
  decoder.Decode(every_byte, 256, decoded.data());
  // Bits, not values: -0.0 and 0.0 must stay apart, as the loader's features do.
  if (std::memcmp(decoded.data(), transform.values.data(), sizeof(decoded)) != 0) {
    return std::nullopt;
  }
  return decoder;
}

void PixelDecoder::Decode(const uint8_t* pixels, int64_t count, float* features) const {
  DecodeAvx2(pixels, count, features, slope_, intercept_);
}

}  // namespace kiln::runtime
