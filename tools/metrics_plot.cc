#include "tools/metrics_plot.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "llvm/Support/JSON.h"

namespace kiln::tools {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The canvas: the plot box, with room left and right for the two axes' labels and below for the
// epoch axis and the legend.
constexpr double kWidth = 760, kLeft = 80, kRight = kWidth - 90, kTop = 56, kBottom = 356;
constexpr double kLegendTop = 424, kLegendRow = 20, kLegendColumn = 200;
constexpr const char* kRunColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                      "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};

struct Metric {
  const char* css_class;
  const char* label;
  double runtime::EpochMetrics::*field;
  const char* dash;          // stroke-dasharray; "" for a solid line.
  const char* single_color;  // Its colour when one run is plotted.
  bool right_axis;
};
constexpr Metric kMetrics[] = {
    {"train-loss", "train loss", &runtime::EpochMetrics::train_loss, "", "#1f77b4", false},
    {"test-loss", "test loss", &runtime::EpochMetrics::test_loss, "7 4", "#d62728", false},
    {"test-accuracy", "test accuracy", &runtime::EpochMetrics::test_accuracy, "2 3", "#2ca02c",
     true},
};

// A tick's text with as many decimals as the spacing needs ("0.25", "0.3", "10").
std::string TickLabel(double value, double step) {
  const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  return absl::StrFormat("%.*f", decimals, value);
}

// Maps values onto pixels along an axis from `lo` to `hi` (by default its first and last tick).
struct Axis {
  std::vector<double> ticks;
  double from_pixel = 0, to_pixel = 0;
  double lo = ticks.empty() ? 0 : ticks.front();
  double hi = ticks.empty() ? 1 : ticks.back();
  double Pixel(double value) const {
    return from_pixel + (value - lo) / (hi - lo) * (to_pixel - from_pixel);
  }
};

// The smallest and largest finite value of `field` over every run's epochs; nullopt if none.
std::optional<std::pair<double, double>> Range(const std::vector<PlotRun>& runs,
                                               const std::function<bool(const Metric&)>& use) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const PlotRun& run : runs) {
    for (const runtime::EpochMetrics& m : run.epochs) {
      for (const Metric& metric : kMetrics) {
        const double v = m.*metric.field;
        if (!use(metric) || !std::isfinite(v)) continue;
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
    }
  }
  if (lo > hi) return std::nullopt;
  return std::make_pair(lo, hi);
}

std::string Line(double x1, double y1, double x2, double y2, const std::string& style) {
  return absl::StrFormat("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" %s/>\n", x1, y1, x2,
                         y2, style);
}

std::string Text(double x, double y, const std::string& anchor, const std::string& text,
                 const std::string& extra = "") {
  return absl::StrFormat("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"%s>%s</text>\n", x, y,
                         anchor, extra, SvgEscape(text));
}

std::string SeriesStyle(const Metric& metric, const std::string& color) {
  std::string style = absl::StrFormat("fill=\"none\" stroke=\"%s\" stroke-width=\"2\"", color);
  if (*metric.dash != '\0') absl::StrAppend(&style, " stroke-dasharray=\"", metric.dash, "\"");
  return style;
}

std::string Color(const Metric& metric, size_t run, size_t runs) {
  return runs == 1 ? metric.single_color : kRunColors[run % std::size(kRunColors)];
}

// The epoch axis along the bottom, ticks at whole epochs.
std::string DrawEpochAxis(const Axis& x) {
  std::string svg = Line(kLeft, kBottom, kRight, kBottom, "stroke=\"#333\"");
  for (double t : x.ticks) {
    svg += Line(x.Pixel(t), kBottom, x.Pixel(t), kBottom + 5, "stroke=\"#333\"");
    svg += Text(x.Pixel(t), kBottom + 19, "middle", TickLabel(t, 1));
  }
  svg += Text((kLeft + kRight) / 2, kBottom + 40, "middle", "epoch");
  return svg;
}

// A vertical axis at `at` with labels on the side away from the plot, and, for the left one,
// the horizontal grid.
std::string DrawValueAxis(const Axis& y, double at, bool left, const std::string& label) {
  std::string svg = Line(at, kTop, at, kBottom, "stroke=\"#333\"");
  const double step = y.ticks.size() > 1 ? y.ticks[1] - y.ticks[0] : 1;
  const double tick_end = left ? at - 5 : at + 5;
  for (double t : y.ticks) {
    const double py = y.Pixel(t);
    if (left) svg += Line(kLeft, py, kRight, py, "stroke=\"#e6e6e6\"");
    svg += Line(at, py, tick_end, py, "stroke=\"#333\"");
    svg += Text(left ? at - 8 : at + 8, py + 4, left ? "end" : "start", TickLabel(t, step));
  }
  const double label_x = left ? at - 58 : at + 62;
  svg +=
      Text(label_x, (kTop + kBottom) / 2, "middle", label,
           absl::StrFormat(" transform=\"rotate(-90 %.1f %.1f)\"", label_x, (kTop + kBottom) / 2));
  return svg;
}

std::string DrawSeries(const PlotRun& run, const Metric& metric, const std::string& color,
                       const Axis& x, const Axis& y) {
  std::string points;
  for (const runtime::EpochMetrics& m : run.epochs) {
    const double v = m.*metric.field;
    if (!std::isfinite(v)) continue;
    absl::StrAppendFormat(&points, "%s%.1f,%.1f", points.empty() ? "" : " ",
                          x.Pixel(static_cast<double>(m.epoch)), y.Pixel(v));
  }
  if (points.empty()) return "";
  return absl::StrFormat("<polyline class=\"%s\" data-run=\"%s\" points=\"%s\" %s/>\n",
                         metric.css_class, SvgEscape(run.name), points, SeriesStyle(metric, color));
}

// A ring on the run's lowest test loss: where more epochs stopped helping.
std::string DrawBestEpoch(const PlotRun& run, const std::string& color, const Axis& x,
                          const Axis& y, bool label) {
  const runtime::EpochMetrics* best = nullptr;
  for (const runtime::EpochMetrics& m : run.epochs) {
    if (std::isfinite(m.test_loss) && (best == nullptr || m.test_loss < best->test_loss)) best = &m;
  }
  if (best == nullptr) return "";
  const double px = x.Pixel(static_cast<double>(best->epoch)), py = y.Pixel(best->test_loss);
  std::string svg = absl::StrFormat(
      "<circle class=\"best-test-loss\" cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"none\" "
      "stroke=\"%s\" stroke-width=\"1.5\"/>\n",
      px, py, color);
  if (label) {
    svg += Text(px, py - 10, "middle", absl::StrFormat("lowest test loss, epoch %d", best->epoch),
                " font-size=\"11\" fill=\"#555\"");
  }
  return svg;
}

}  // namespace

std::string SvgEscape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::vector<double> NiceTicks(double lo, double hi, int target) {
  if (!(hi > lo)) {
    const double pad = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const double rough = (hi - lo) / std::max(1, target);
  const int exponent = static_cast<int>(std::floor(std::log10(rough)));
  double multiple = 10;
  for (double m : {1.0, 2.0, 5.0}) {
    if (m * std::pow(10.0, exponent) >= rough) {
      multiple = m;
      break;
    }
  }
  // i * multiple * 10^exponent, as one correctly rounded operation, so 3 * 0.1 is 0.3 and not
  // 0.30000000000000004 (which would print as a long label).
  const double scale = std::pow(10.0, std::abs(exponent));
  auto tick = [&](int64_t i) {
    const double units = static_cast<double>(i) * multiple;
    return exponent < 0 ? units / scale : units * scale;
  };
  const double step = tick(1);
  std::vector<double> ticks;
  const int64_t first = static_cast<int64_t>(std::floor(lo / step + 1e-9));
  const int64_t last = static_cast<int64_t>(std::ceil(hi / step - 1e-9));
  for (int64_t i = first; i <= last; ++i) ticks.push_back(tick(i));
  return ticks;
}

absl::StatusOr<std::vector<runtime::EpochMetrics>> ParseMetricsJson(const std::string& json) {
  llvm::Expected<llvm::json::Value> parsed = llvm::json::parse(json);
  if (!parsed) return absl::InvalidArgumentError(llvm::toString(parsed.takeError()));
  const llvm::json::Object* root = parsed->getAsObject();
  const llvm::json::Array* epochs = root == nullptr ? nullptr : root->getArray("epochs");
  if (epochs == nullptr) {
    return absl::InvalidArgumentError("expected {\"epochs\":[...]} as --metrics-out writes it");
  }
  std::vector<runtime::EpochMetrics> out;
  for (const llvm::json::Value& value : *epochs) {
    const llvm::json::Object* o = value.getAsObject();
    std::optional<int64_t> epoch = o == nullptr ? std::nullopt : o->getInteger("epoch");
    if (!epoch) return absl::InvalidArgumentError("an entry of \"epochs\" has no \"epoch\" number");
    runtime::EpochMetrics m;
    m.epoch = *epoch;
    m.train_loss = o->getNumber("train_loss").value_or(kNaN);
    m.test_loss = o->getNumber("test_loss").value_or(kNaN);
    m.test_accuracy = o->getNumber("test_accuracy").value_or(kNaN);
    m.seconds = o->getNumber("seconds").value_or(kNaN);
    out.push_back(m);
  }
  return out;
}

std::string RenderMetricsSvg(const std::vector<PlotRun>& runs, const std::string& title) {
  // The axes: epochs, losses on the left, accuracy (when any run has it) on the right.
  std::optional<std::pair<double, double>> epochs;
  for (const PlotRun& run : runs) {
    for (const runtime::EpochMetrics& m : run.epochs) {
      const double e = static_cast<double>(m.epoch);
      epochs = epochs ? std::make_pair(std::min(epochs->first, e), std::max(epochs->second, e))
                      : std::make_pair(e, e);
    }
  }
  if (!epochs) epochs = {1, 1};
  // The epoch axis spans exactly the epochs run (no epoch 0), with ticks at whole epochs.
  Axis x{NiceTicks(epochs->first, epochs->second, 8), kLeft, kRight};
  x.lo = epochs->first;
  x.hi = epochs->second;
  if (x.hi == x.lo) {
    x.lo -= 1;
    x.hi += 1;
  }
  std::erase_if(x.ticks, [&](double t) { return t < x.lo || t > x.hi || t != std::floor(t); });
  if (x.ticks.size() < 2) x.ticks = {x.lo, x.hi};
  auto loss_range = Range(runs, [](const Metric& m) { return !m.right_axis; });
  auto accuracy_range = Range(runs, [](const Metric& m) { return m.right_axis; });
  Axis loss{NiceTicks(loss_range ? loss_range->first : 0, loss_range ? loss_range->second : 1, 6),
            kBottom, kTop};
  std::optional<Axis> accuracy;
  if (accuracy_range) {
    // An accuracy is within [0, 1]; a tick beyond (padding around a constant) would mislead.
    std::vector<double> ticks = NiceTicks(accuracy_range->first, accuracy_range->second, 6);
    std::erase_if(ticks, [](double t) { return t < -1e-9 || t > 1 + 1e-9; });
    accuracy = Axis{std::move(ticks), kBottom, kTop};
  }

  // The legend's entries, known before the canvas's height is.
  struct Entry {
    const Metric* metric;
    std::string color, label;
  };
  std::vector<Entry> legend;
  std::string series;
  for (size_t r = 0; r < runs.size(); ++r) {
    for (const Metric& metric : kMetrics) {
      const Axis& y = metric.right_axis && accuracy ? *accuracy : loss;
      std::string line = DrawSeries(runs[r], metric, Color(metric, r, runs.size()), x, y);
      if (line.empty()) continue;
      series += line;
      legend.push_back({&metric, Color(metric, r, runs.size()),
                        runs.size() == 1 ? metric.label : runs[r].name + " " + metric.label});
    }
    series += DrawBestEpoch(runs[r], Color(kMetrics[1], r, runs.size()), x, loss,
                            /*label=*/runs.size() == 1);
  }
  const int columns = static_cast<int>((kRight - kLeft + 60) / kLegendColumn);
  const int rows = static_cast<int>((legend.size() + columns - 1) / columns);
  const double height = kLegendTop + rows * kLegendRow + 10;

  std::string svg = absl::StrFormat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
      "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<title>%s</title>\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
      kWidth, height, kWidth, height, SvgEscape(title));
  svg += Text(kWidth / 2, 30, "middle", title, " class=\"title\" font-size=\"16\"");
  svg += DrawValueAxis(loss, kLeft, /*left=*/true, "loss");
  if (accuracy) svg += DrawValueAxis(*accuracy, kRight, /*left=*/false, "test accuracy");
  svg += DrawEpochAxis(x);
  svg += series;
  svg += "<g class=\"legend\">\n";
  for (size_t i = 0; i < legend.size(); ++i) {
    const double lx = kLeft + static_cast<double>(i % columns) * kLegendColumn;
    const double ly = kLegendTop + static_cast<double>(i / columns) * kLegendRow;
    svg += Line(lx, ly - 4, lx + 28, ly - 4, SeriesStyle(*legend[i].metric, legend[i].color));
    svg += Text(lx + 34, ly, "start", legend[i].label);
  }
  svg += "</g>\n</svg>\n";
  return svg;
}

}  // namespace kiln::tools
