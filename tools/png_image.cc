#include "tools/png_image.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>

namespace kiln::tools {
namespace {

void AppendBigEndian32(uint32_t value, std::string& out) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((value >> shift) & 0xff);
}

// Length, type, data, and the CRC-32 of type and data.
void AppendChunk(const char type[4], const std::string& data, std::string& out) {
  AppendBigEndian32(static_cast<uint32_t>(data.size()), out);
  const std::string body = std::string(type, 4) + data;
  out += body;
  AppendBigEndian32(static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()),
                                                static_cast<uInt>(body.size()))),
                    out);
}

}  // namespace

std::string EncodePng(const GrayImage& image) {
  std::string png("\x89PNG\r\n\x1a\n", 8);
  std::string header;
  AppendBigEndian32(static_cast<uint32_t>(image.width), header);
  AppendBigEndian32(static_cast<uint32_t>(image.height), header);
  header += std::string("\x08\x00\x00\x00\x00", 5);  // 8-bit gray, deflate, filter 0, no interlace.
  AppendChunk("IHDR", header, png);

  std::string raw;  // Each row: filter type 0 (none), then its pixels.
  raw.reserve(image.height * (image.width + 1));
  for (int64_t y = 0; y < image.height; ++y) {
    raw += '\0';
    raw.append(reinterpret_cast<const char*>(image.pixels.data() + y * image.width), image.width);
  }
  uLongf size = compressBound(raw.size());
  std::string compressed(size, '\0');
  // compress2 fails only for lack of memory or a too-small buffer; compressBound rules out the
  // second.
  compress2(reinterpret_cast<Bytef*>(compressed.data()), &size,
            reinterpret_cast<const Bytef*>(raw.data()), raw.size(), Z_BEST_COMPRESSION);
  compressed.resize(size);
  AppendChunk("IDAT", compressed, png);
  AppendChunk("IEND", "", png);
  return png;
}

GrayImage StretchToGray(const float* values, int64_t height, int64_t width) {
  GrayImage image{width, height, std::vector<uint8_t>(height * width, 128)};
  const int64_t n = height * width;
  float lo = INFINITY, hi = -INFINITY;
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(values[i])) continue;
    lo = std::min(lo, values[i]);
    hi = std::max(hi, values[i]);
  }
  if (!(hi > lo)) return image;
  for (int64_t i = 0; i < n; ++i) {
    const float v = std::isfinite(values[i]) ? values[i] : lo;
    image.pixels[i] = static_cast<uint8_t>(std::lround(255.0f * (v - lo) / (hi - lo)));
  }
  return image;
}

}  // namespace kiln::tools
