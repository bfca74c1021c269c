#include "tools/image_grid.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "tools/metrics_plot.h"

namespace kiln::tools {
namespace {

constexpr double kCell = 96;     // Pixels per tile, before its caption.
constexpr double kCaption = 20;  // Below each tile.
constexpr double kGap = 12;      // Between tiles and around the grid.
constexpr double kTitle = 40;    // Above the grid.

}  // namespace

std::string RenderImageGrid(const std::vector<ImageTile>& tiles, int columns,
                            const std::string& title) {
  columns = std::max(1, std::min<int>(columns, std::max<int>(1, tiles.size())));
  const int rows = (static_cast<int>(tiles.size()) + columns - 1) / columns;
  const double width = kGap + columns * (kCell + kGap);
  const double height = kTitle + rows * (kCell + kCaption + kGap) + kGap;
  std::string svg = absl::StrFormat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
      "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\">\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
      "<text class=\"title\" x=\"%.1f\" y=\"26\" text-anchor=\"middle\" "
      "font-size=\"16\">%s</text>\n",
      width, height, width, height, width / 2, SvgEscape(title));
  for (size_t i = 0; i < tiles.size(); ++i) {
    const ImageTile& tile = tiles[i];
    if (tile.image.pixels.empty() && tile.caption.empty()) continue;  // A blank cell.
    const double x = kGap + (i % columns) * (kCell + kGap);
    const double y = kTitle + (i / columns) * (kCell + kCaption + kGap);
    // Whole-number scale factors keep every source pixel the same size on screen.
    const int64_t longest = std::max<int64_t>({1, tile.image.width, tile.image.height});
    const double scale = std::max<int64_t>(1, static_cast<int64_t>(kCell) / longest);
    const double w = tile.image.width * scale, h = tile.image.height * scale;
    svg += absl::StrFormat(
        "<image x=\"%.1f\" y=\"%.1f\" width=\"%.0f\" height=\"%.0f\" "
        "style=\"image-rendering:pixelated\" href=\"data:image/png;base64,%s\"/>\n",
        x + (kCell - w) / 2, y + (kCell - h) / 2, w, h, absl::Base64Escape(EncodePng(tile.image)));
    svg += absl::StrFormat(
        "<text class=\"caption\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\" "
        "fill=\"%s\">%s</text>\n",
        x + kCell / 2, y + kCell + 15, tile.color, SvgEscape(tile.caption));
  }
  return svg + "</svg>\n";
}

}  // namespace kiln::tools
