// Pictures as one self-contained SVG (`kiln predict --grid`, `kiln features`): rows of
// grayscale tiles, each an <image> with its PNG embedded as a data: URI, scaled up with crisp
// pixels, and a caption below it in the tile's colour.
//
//   std::vector<ImageTile> tiles = {{StretchToGray(x, 28, 28), "7 (7)", kRightColor}};
//   std::string svg = RenderImageGrid(tiles, /*columns=*/10, "fashion_mlp: predicted (truth)");
//
// Each caption is a <text class="caption" fill="COLOUR">; the title a <text class="title">.
#ifndef KILN_TOOLS_IMAGE_GRID_H_
#define KILN_TOOLS_IMAGE_GRID_H_

#include <string>
#include <vector>

#include "tools/png_image.h"

namespace kiln::tools {

inline constexpr char kRightColor[] = "#1a7f37";  // Green: the prediction matches the truth.
inline constexpr char kWrongColor[] = "#cf222e";  // Red: it does not.
inline constexpr char kPlainColor[] = "#333333";

struct ImageTile {
  GrayImage image;
  std::string caption;
  std::string color = kPlainColor;
};

// Every tile gets a 96-pixel cell, its image scaled up by a whole number to fill it, so 28x28
// inputs and 7x7 feature maps show at a similar size. `columns` tiles to a row; a tile with
// neither pixels nor caption (ImageTile{}) leaves its cell blank.
std::string RenderImageGrid(const std::vector<ImageTile>& tiles, int columns,
                            const std::string& title);

}  // namespace kiln::tools

#endif  // KILN_TOOLS_IMAGE_GRID_H_
