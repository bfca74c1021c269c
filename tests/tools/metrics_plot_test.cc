// The loss/accuracy SVG (tools/metrics_plot.h) read back with expat: well-formed, one polyline
// per series with a point per epoch, the legend's text, the axes' ticks, NaN points left out.
#include "tools/metrics_plot.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/tools/svg_reader.h"

namespace kiln::tools {
namespace {

using testing::ParseXml;
using testing::PointCount;
using testing::XmlElement;

constexpr double kNaN = NAN;

std::vector<runtime::EpochMetrics> Curve(const std::vector<double>& train,
                                         const std::vector<double>& test,
                                         const std::vector<double>& accuracy) {
  std::vector<runtime::EpochMetrics> epochs;
  for (size_t i = 0; i < train.size(); ++i) {
    runtime::EpochMetrics m;
    m.epoch = static_cast<int64_t>(i) + 1;
    m.train_loss = train[i];
    m.test_loss = test[i];
    m.test_accuracy = accuracy[i];
    epochs.push_back(m);
  }
  return epochs;
}

// Texts of the <text> elements under `root` whose parent or self matches.
std::vector<std::string> Texts(const XmlElement& root) {
  std::vector<std::string> texts;
  for (const XmlElement* t : root.All("text")) texts.push_back(t->text);
  return texts;
}

TEST(NiceTicksTest, RoundNumbersCoveringTheRange) {
  EXPECT_EQ(NiceTicks(0.12, 0.49, 6), (std::vector<double>{0.1, 0.2, 0.3, 0.4, 0.5}));
  EXPECT_EQ(NiceTicks(0.71, 0.84, 6), (std::vector<double>{0.7, 0.75, 0.8, 0.85}));
  EXPECT_EQ(NiceTicks(1, 8, 8), (std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(NiceTicks(0, 95, 5), (std::vector<double>{0, 20, 40, 60, 80, 100}));
  // A constant is padded, so the axis still has a length.
  std::vector<double> flat = NiceTicks(2, 2, 5);
  EXPECT_LT(flat.front(), 2);
  EXPECT_GT(flat.back(), 2);
}

TEST(MetricsPlotTest, OneRunHasThreeSeriesLegendAxesAndTitle) {
  // W2's shape: the train loss keeps falling, the test loss turns up after epoch 3.
  PlotRun run{"bc", Curve({0.6, 0.4, 0.3, 0.25, 0.2}, {0.5, 0.35, 0.3, 0.32, 0.36},
                          {0.7, 0.8, 0.85, 0.84, 0.83})};
  std::string error;
  std::unique_ptr<XmlElement> svg = ParseXml(RenderMetricsSvg({run}, "bc & co"), &error);
  ASSERT_NE(svg, nullptr) << error;
  EXPECT_EQ(svg->name, "svg");
  EXPECT_EQ(svg->Attribute("xmlns"), "http://www.w3.org/2000/svg");

  std::vector<const XmlElement*> lines = svg->All("polyline");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]->Attribute("class"), "train-loss");
  EXPECT_EQ(lines[1]->Attribute("class"), "test-loss");
  EXPECT_EQ(lines[2]->Attribute("class"), "test-accuracy");
  for (const XmlElement* line : lines) EXPECT_EQ(PointCount(*line), 5);

  std::vector<std::string> texts = Texts(*svg);
  auto has = [&](const std::string& s) {
    return std::find(texts.begin(), texts.end(), s) != texts.end();
  };
  EXPECT_TRUE(has("bc & co")) << "the title, unescaped by the parser";
  for (const char* s : {"train loss", "test loss", "test accuracy", "epoch", "loss"}) {
    EXPECT_TRUE(has(s)) << s;
  }
  for (const char* tick : {"1", "5", "0.2", "0.6", "0.70", "0.85"}) EXPECT_TRUE(has(tick)) << tick;
  EXPECT_TRUE(has("lowest test loss, epoch 3"));
  std::vector<const XmlElement*> rings;
  svg->Collect([](const XmlElement& e) { return e.Attribute("class") == "best-test-loss"; }, rings);
  EXPECT_EQ(rings.size(), 1u);
}

TEST(MetricsPlotTest, SeveralRunsAreNamedInTheLegend) {
  PlotRun a{"lr=0.01", Curve({0.5, 0.3}, {0.4, 0.35}, {0.8, 0.9})};
  PlotRun b{"lr=0.1", Curve({0.9, 0.7, 0.6}, {0.8, 0.7, 0.65}, {0.6, 0.7, 0.75})};
  std::string error;
  std::unique_ptr<XmlElement> svg = ParseXml(RenderMetricsSvg({a, b}, "compare"), &error);
  ASSERT_NE(svg, nullptr) << error;
  std::vector<const XmlElement*> lines = svg->All("polyline");
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0]->Attribute("data-run"), "lr=0.01");
  EXPECT_EQ(PointCount(*lines[0]), 2);
  EXPECT_EQ(lines[3]->Attribute("data-run"), "lr=0.1");
  EXPECT_EQ(PointCount(*lines[3]), 3);
  // The runs differ in colour, the metrics in dash pattern.
  EXPECT_NE(lines[0]->Attribute("stroke"), lines[3]->Attribute("stroke"));
  EXPECT_EQ(lines[0]->Attribute("stroke"), lines[1]->Attribute("stroke"));
  EXPECT_NE(lines[0]->Attribute("stroke-dasharray"), lines[1]->Attribute("stroke-dasharray"));
  std::vector<const XmlElement*> legends;
  svg->Collect([](const XmlElement& e) { return e.Attribute("class") == "legend"; }, legends);
  ASSERT_EQ(legends.size(), 1u);
  EXPECT_EQ(
      Texts(*legends[0]),
      (std::vector<std::string>{"lr=0.01 train loss", "lr=0.01 test loss", "lr=0.01 test accuracy",
                                "lr=0.1 train loss", "lr=0.1 test loss", "lr=0.1 test accuracy"}));
}

TEST(MetricsPlotTest, WithoutATestSetOnlyTheTrainLossIsDrawn) {
  PlotRun run{"r", Curve({0.6, 0.4, kNaN}, {kNaN, kNaN, kNaN}, {kNaN, kNaN, kNaN})};
  std::string error;
  std::unique_ptr<XmlElement> svg = ParseXml(RenderMetricsSvg({run}, "t"), &error);
  ASSERT_NE(svg, nullptr) << error;
  std::vector<const XmlElement*> lines = svg->All("polyline");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(PointCount(*lines[0]), 2) << "the NaN epoch has no point";
  std::vector<std::string> texts = Texts(*svg);
  EXPECT_EQ(std::count(texts.begin(), texts.end(), "test accuracy"), 0);
}

TEST(ParseMetricsJsonTest, ReadsWhatMetricsOutWrites) {
  runtime::EpochMetrics m;
  m.epoch = 1;
  m.train_loss = 0.5;
  m.test_loss = kNaN;  // Written as null.
  m.test_accuracy = 0.75;
  auto epochs = ParseMetricsJson(runtime::MetricsJson({m}));
  ASSERT_TRUE(epochs.ok()) << epochs.status();
  ASSERT_EQ(epochs->size(), 1u);
  EXPECT_EQ((*epochs)[0].train_loss, 0.5);
  EXPECT_TRUE(std::isnan((*epochs)[0].test_loss));
  EXPECT_EQ((*epochs)[0].test_accuracy, 0.75);

  EXPECT_EQ(ParseMetricsJson("{\"runs\":[]}").status().message(),
            "expected {\"epochs\":[...]} as --metrics-out writes it");
  EXPECT_FALSE(ParseMetricsJson("{\"epochs\":[{\"train_loss\":1}]}").ok());
  EXPECT_FALSE(ParseMetricsJson("not json").ok());
}

}  // namespace
}  // namespace kiln::tools
