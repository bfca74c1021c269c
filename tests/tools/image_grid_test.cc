// The picture grid (tools/image_grid.h) and its PNG encoder (tools/png_image.h), read back with
// independent decoders: expat for the SVG, zlib's uncompress for the PNG's pixels.
#include "tools/image_grid.h"

#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/tools/png_reader.h"
#include "tests/tools/svg_reader.h"
#include "tools/png_image.h"

namespace kiln::tools {
namespace {

using ::kiln::testing::DecodeGrayPng;
using ::kiln::testing::ParseXml;

TEST(PngImageTest, DecodesToTheSameSizeAndPixels) {
  GrayImage image{5, 3, {}};
  for (int i = 0; i < 15; ++i) image.pixels.push_back(static_cast<uint8_t>(i * 17));
  const std::string png = EncodePng(image);
  std::string error;
  std::optional<GrayImage> decoded = DecodeGrayPng(png, &error);
  ASSERT_TRUE(decoded.has_value()) << error;
  EXPECT_EQ(decoded->width, 5);
  EXPECT_EQ(decoded->height, 3);
  EXPECT_EQ(decoded->pixels, image.pixels);
}

TEST(PngImageTest, StretchMapsTheRangeToBlackAndWhite) {
  const std::vector<float> values = {-1.0f, 0.0f, 1.0f, 0.5f};
  GrayImage image = StretchToGray(values.data(), 2, 2);
  EXPECT_EQ(image.width, 2);
  EXPECT_EQ(image.height, 2);
  EXPECT_EQ(image.pixels, (std::vector<uint8_t>{0, 128, 255, 191}));
  const std::vector<float> flat(4, 3.0f);
  EXPECT_EQ(StretchToGray(flat.data(), 2, 2).pixels, std::vector<uint8_t>(4, 128));
}

TEST(ImageGridTest, OneImageAndCaptionPerTileInItsColour) {
  std::vector<float> values(28 * 28);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 28);
  std::vector<ImageTile> tiles;
  for (int i = 0; i < 12; ++i) {
    tiles.push_back({StretchToGray(values.data(), 28, 28), absl::StrCat(i % 10, " (3)"),
                     i % 10 == 3 ? kRightColor : kWrongColor});
  }
  tiles.push_back({StretchToGray(values.data(), 7, 4), "a <map> & more", kPlainColor});
  const std::string svg = RenderImageGrid(tiles, 5, "mlp: predicted (truth)");

  std::string error;
  auto root = ParseXml(svg, &error);
  ASSERT_NE(root, nullptr) << error;
  const auto images = root->All("image");
  ASSERT_EQ(images.size(), tiles.size());
  std::vector<const testing::XmlElement*> captions;
  root->Collect(
      [](const testing::XmlElement& e) {
        return e.name == "text" && e.Attribute("class") == "caption";
      },
      captions);
  ASSERT_EQ(captions.size(), tiles.size());
  for (size_t i = 0; i < tiles.size(); ++i) {
    EXPECT_EQ(captions[i]->text, tiles[i].caption);
    EXPECT_EQ(captions[i]->Attribute("fill"), tiles[i].color);
    const std::string href = images[i]->Attribute("href");
    constexpr char kPrefix[] = "data:image/png;base64,";
    ASSERT_TRUE(absl::StartsWith(href, kPrefix)) << href.substr(0, 40);
    std::string png;
    ASSERT_TRUE(absl::Base64Unescape(href.substr(sizeof(kPrefix) - 1), &png));
    std::optional<GrayImage> decoded = DecodeGrayPng(png, &error);
    ASSERT_TRUE(decoded.has_value()) << error;
    EXPECT_EQ(decoded->width, tiles[i].image.width);
    EXPECT_EQ(decoded->height, tiles[i].image.height);
    EXPECT_EQ(decoded->pixels, tiles[i].image.pixels);
  }
  EXPECT_EQ(captions[3]->Attribute("fill"), "#1a7f37");  // "3 (3)": right, green.
  EXPECT_EQ(captions[4]->Attribute("fill"), "#cf222e");  // "4 (3)": wrong, red.
  // Five to a row: the sixth tile starts the second row, left-aligned with the first.
  EXPECT_EQ(images[5]->Attribute("x"), images[0]->Attribute("x"));
  EXPECT_NE(images[5]->Attribute("y"), images[0]->Attribute("y"));
}

}  // namespace
}  // namespace kiln::tools
