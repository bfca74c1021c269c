// Turns a batch's 8-bit pixels into the f32 features the data set's transform made of them, so
// a shuffled batch reads one byte per feature from memory instead of four.
//
//   std::optional<PixelDecoder> decoder = PixelDecoder::Create(data.pixel_transform);
//   if (decoder) decoder->Decode(data.pixels.data() + sample * dim, dim, features);
//
// The features are exactly the loader's: a decoder exists only where its arithmetic gives every
// one of the 256 byte values the feature bits the loader gave it.
#ifndef KILN_RUNTIME_PIXEL_DECODER_H_
#define KILN_RUNTIME_PIXEL_DECODER_H_

#include <array>
#include <cstdint>
#include <optional>

namespace kiln::runtime {

// How 8-bit images became features: byte p became values[p], which the loader computed as
// (p * scale - mean) / stddev in double, rounded to f32 once; that is the line
// p * slope + intercept.
struct PixelTransform {
  double slope = 1.0;      // scale / stddev
  double intercept = 0.0;  // -mean / stddev
  std::array<float, 256> values{};
};

class PixelDecoder {
 public:
  // Decodes as float(p * slope + intercept), multiplied and added in double with one rounding
  // (eight pixels per AVX2 instruction). nullopt where the CPU lacks AVX2 or FMA, or where that
  // rounds any byte value differently from transform.values: the caller then copies the f32
  // features instead.
  static std::optional<PixelDecoder> Create(const PixelTransform& transform);

  // Whether this CPU has the AVX2 and FMA a decoder needs.
  static bool CpuSupported();

  // features[i] = transform.values[pixels[i]] for i < count.
  void Decode(const uint8_t* pixels, int64_t count, float* features) const;

 private:
  PixelDecoder(double slope, double intercept) : slope_(slope), intercept_(intercept) {}

  double slope_;
  double intercept_;
};

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_PIXEL_DECODER_H_
