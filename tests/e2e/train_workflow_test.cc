// End-to-end: kiln train's progress bar with the real binary. Its output goes to a file here, as
// into a pipe or a CI log: without --progress it is one line per epoch; with it, each epoch's
// line is preceded by carriage-return redraws of the bar.
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/e2e/kiln_process.h"
#include "tests/tools/svg_reader.h"

namespace kiln {
namespace {

using e2e::Describe;
using e2e::RunKiln;
using e2e::RunResult;
using e2e::TempDir;

// Synthetic data: 900 training samples in batches of 100, 9 steps an epoch, 3 epochs.
constexpr char kModel[] = "examples/binary_classifier.kiln";

const std::regex kEpochLine(R"(epoch [123]/3  train_loss \d+\.\d+  test_loss .*)");
const std::regex kBar(
    R"(epoch ([123])/3 \[[#.]{20}\] ([1-9])/9(  \d+\.\d steps/s  ETA \w+)?  loss \d+\.\d{4} *)");

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

TEST(TrainProgressTest, NotATerminalMeansOneLinePerEpoch) {
  for (std::vector<std::string> extra : {std::vector<std::string>{}, {"--quiet"}}) {
    std::vector<std::string> args = {"train", kModel};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult run = RunKiln(args);
    ASSERT_TRUE(e2e::Succeeded(run)) << Describe(run);
    EXPECT_EQ(run.out.find('\r'), std::string::npos) << run.out;
    int epoch_lines = 0;
    for (const std::string& line : Lines(run.out)) {
      epoch_lines += std::regex_match(line, kEpochLine);
    }
    EXPECT_EQ(epoch_lines, 3) << run.out;
  }
}

TEST(TrainProgressTest, ProgressRedrawsTheBarThenPrintsTheEpochLine) {
  RunResult run = RunKiln({"train", kModel, "--progress"});
  ASSERT_TRUE(e2e::Succeeded(run)) << Describe(run);
  int epoch = 0;
  for (const std::string& line : Lines(run.out)) {
    if (line.find('\r') == std::string::npos) continue;
    ++epoch;
    // Redraws of this epoch's bar, the blank that erases it, then the usual epoch line.
    std::vector<std::string> pieces = absl::StrSplit(line, '\r', absl::SkipEmpty());
    ASSERT_GE(pieces.size(), 3u) << line;
    EXPECT_TRUE(std::regex_match(pieces.back(), kEpochLine)) << pieces.back();
    EXPECT_EQ(pieces.back().rfind("epoch " + std::to_string(epoch) + "/3", 0), 0u) << line;
    EXPECT_EQ(pieces[pieces.size() - 2].find_first_not_of(' '), std::string::npos) << line;
    int last_step = 0;
    for (size_t i = 0; i + 2 < pieces.size(); ++i) {
      std::smatch bar;
      ASSERT_TRUE(std::regex_match(pieces[i], bar, kBar)) << "'" << pieces[i] << "'";
      EXPECT_EQ(std::stoi(bar[1]), epoch);
      EXPECT_GT(std::stoi(bar[2]), last_step) << "steps only go forward";
      last_step = std::stoi(bar[2]);
    }
    EXPECT_EQ(last_step, 9) << "the last step is always drawn";
  }
  EXPECT_EQ(epoch, 3) << run.out;
}

TEST(TrainProgressTest, ProgressAndQuietContradict) {
  RunResult run = RunKiln({"train", kModel, "--progress", "--quiet"});
  EXPECT_EQ(run.exit_code, 1) << Describe(run);
  EXPECT_EQ(run.err, "kiln: --progress and --quiet contradict each other\n");
}

// The plot's series by class ("train-loss" ...) for each run, with their point counts.
std::map<std::pair<std::string, std::string>, int> SeriesPoints(const std::string& svg_text) {
  std::string error;
  std::unique_ptr<testing::XmlElement> svg = testing::ParseXml(svg_text, &error);
  EXPECT_NE(svg, nullptr) << "not well-formed XML: " << error;
  std::map<std::pair<std::string, std::string>, int> points;
  if (svg == nullptr) return points;
  for (const testing::XmlElement* line : svg->All("polyline")) {
    points[{line->Attribute("data-run"), line->Attribute("class")}] = testing::PointCount(*line);
  }
  return points;
}

std::vector<std::string> LegendTexts(const std::string& svg_text) {
  std::unique_ptr<testing::XmlElement> svg = testing::ParseXml(svg_text, nullptr);
  std::vector<std::string> texts;
  if (svg == nullptr) return texts;
  std::vector<const testing::XmlElement*> legend;
  svg->Collect([](const testing::XmlElement& e) { return e.Attribute("class") == "legend"; },
               legend);
  for (const testing::XmlElement* g : legend) {
    for (const testing::XmlElement* text : g->All("text")) texts.push_back(text->text);
  }
  return texts;
}

TEST(TrainPlotTest, TrainRedrawsThePlotAfterEveryEpoch) {
  TempDir dir;
  RunResult run = RunKiln({"train", kModel, "--epochs", "4", "--plot", dir.File("bc.svg")});
  ASSERT_TRUE(e2e::Succeeded(run)) << Describe(run);
  const std::string svg = e2e::ReadFile(dir.File("bc.svg"));
  EXPECT_EQ(SeriesPoints(svg), (std::map<std::pair<std::string, std::string>, int>{
                                   {{"binary_classifier", "train-loss"}, 4},
                                   {{"binary_classifier", "test-loss"}, 4},
                                   {{"binary_classifier", "test-accuracy"}, 4}}));
  EXPECT_EQ(LegendTexts(svg),
            (std::vector<std::string>{"train loss", "test loss", "test accuracy"}));
  EXPECT_NE(svg.find("binary_classifier: loss and accuracy by epoch"), std::string::npos);
}

TEST(TrainPlotTest, PlotComparesRunsFromTheirMetricsFiles) {
  TempDir dir;
  for (const char* lr : {"0.01", "0.001"}) {
    RunResult run =
        RunKiln({"train", kModel, "--lr", lr, "--epochs", std::string(lr) == "0.01" ? "3" : "5",
                 "--metrics-out", dir.File(std::string("lr") + lr + ".json")});
    ASSERT_TRUE(e2e::Succeeded(run)) << Describe(run);
  }
  RunResult plot = RunKiln(
      {"plot", dir.File("lr0.01.json"), dir.File("lr0.001.json"), "-o", dir.File("compare.svg")});
  ASSERT_TRUE(e2e::Succeeded(plot)) << Describe(plot);
  EXPECT_EQ(plot.err, "kiln: wrote " + dir.File("compare.svg") + "\n");
  const std::string svg = e2e::ReadFile(dir.File("compare.svg"));
  std::map<std::pair<std::string, std::string>, int> points = SeriesPoints(svg);
  EXPECT_EQ(points.size(), 6u);
  EXPECT_EQ((points[{"lr0.01", "test-loss"}]), 3);
  EXPECT_EQ((points[{"lr0.001", "test-loss"}]), 5);
  std::vector<std::string> legend = LegendTexts(svg);
  EXPECT_EQ(legend.front(), "lr0.01 train loss");
  EXPECT_EQ(legend.back(), "lr0.001 test accuracy");
}

TEST(TrainPlotTest, PlotRefusesAFileThatIsNotMetrics) {
  TempDir dir;
  RunResult run = RunKiln({"plot", dir.Write("x.json", "{\"kernels\":[]}").string()});
  EXPECT_EQ(run.exit_code, 1) << Describe(run);
  EXPECT_EQ(run.err, "kiln: " + dir.File("x.json") +
                         ": not a kiln metrics file: expected {\"epochs\":[...]} as --metrics-out "
                         "writes it\n");
}

}  // namespace
}  // namespace kiln
