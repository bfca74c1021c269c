// A minimal PNG encoder for the pictures kiln draws into SVG (`kiln predict --grid`, `kiln
// features`): 8-bit grayscale, no interlace, every row with filter 0, one zlib IDAT chunk.
#ifndef KILN_TOOLS_PNG_IMAGE_H_
#define KILN_TOOLS_PNG_IMAGE_H_

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::tools {

struct GrayImage {
  int64_t width = 0, height = 0;
  std::vector<uint8_t> pixels;  // [height, width], row-major; 0 black, 255 white.
};

// The PNG file's bytes.
std::string EncodePng(const GrayImage& image);

// `values` [height, width] stretched so that the smallest is black and the largest white (all
// equal: mid gray): a normalized input or a feature map, whatever its range, shows its shape.
GrayImage StretchToGray(const float* values, int64_t height, int64_t width);

}  // namespace kiln::tools

#endif  // KILN_TOOLS_PNG_IMAGE_H_
