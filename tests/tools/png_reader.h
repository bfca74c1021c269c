// Reading kiln's PNGs back in tests, independently of tools/png_image.cc: the signature, each
// chunk's CRC-32, IHDR (8-bit grayscale only), and the IDAT data through zlib's uncompress with
// every row's filter byte checked to be 0 (the only filter kiln writes).
#ifndef KILN_TESTS_TOOLS_PNG_READER_H_
#define KILN_TESTS_TOOLS_PNG_READER_H_

#include <zlib.h>

#include <cstdint>
#include <optional>
#include <string>

#include "tools/png_image.h"

namespace kiln::testing {

inline uint32_t ReadBigEndian32(const std::string& bytes, size_t at) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value = (value << 8) | static_cast<uint8_t>(bytes[at + i]);
  return value;
}

// The image, or nullopt with `error` saying what is wrong.
inline std::optional<tools::GrayImage> DecodeGrayPng(const std::string& png, std::string* error) {
  auto fail = [&](const std::string& why) {
    *error = why;
    return std::nullopt;
  };
  if (png.compare(0, 8, std::string("\x89PNG\r\n\x1a\n", 8)) != 0) return fail("no PNG signature");
  tools::GrayImage image;
  std::string idat;
  bool ended = false;
  for (size_t at = 8; at < png.size() && !ended;) {
    if (at + 12 > png.size()) return fail("truncated chunk");
    const uint32_t length = ReadBigEndian32(png, at);
    if (at + 12 + length > png.size()) return fail("truncated chunk data");
    const std::string type = png.substr(at + 4, 4);
    const std::string data = png.substr(at + 8, length);
    const uint32_t crc = static_cast<uint32_t>(
        crc32(0, reinterpret_cast<const Bytef*>(png.data() + at + 4), length + 4));
    if (crc != ReadBigEndian32(png, at + 8 + length)) return fail("bad CRC in " + type);
    if (type == "IHDR") {
      if (length != 13) return fail("IHDR of the wrong length");
      image.width = ReadBigEndian32(data, 0);
      image.height = ReadBigEndian32(data, 4);
      if (data[8] != 8 || data[9] != 0) return fail("not 8-bit grayscale");
    } else if (type == "IDAT") {
      idat += data;
    } else if (type == "IEND") {
      ended = true;
    }
    at += 12 + length;
  }
  if (!ended) return fail("no IEND chunk");
  const size_t stride = image.width + 1;
  std::string raw(stride * image.height, '\0');
  uLongf size = raw.size();
  if (uncompress(reinterpret_cast<Bytef*>(raw.data()), &size,
                 reinterpret_cast<const Bytef*>(idat.data()), idat.size()) != Z_OK ||
      size != raw.size()) {
    return fail("IDAT does not inflate to height * (width + 1) bytes");
  }
  for (int64_t y = 0; y < image.height; ++y) {
    if (raw[y * stride] != 0) return fail("a row filter other than 0");
    image.pixels.insert(image.pixels.end(), raw.begin() + y * stride + 1,
                        raw.begin() + (y + 1) * stride);
  }
  return image;
}

}  // namespace kiln::testing

#endif  // KILN_TESTS_TOOLS_PNG_READER_H_
