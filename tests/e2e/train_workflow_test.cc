// End-to-end tests of the training workflow (issue 13) with the real binary, each reading the
// output back: kiln train's progress bar (output goes to a file here, as into a pipe or a CI log:
// one line per epoch unless --progress adds carriage-return redraws of the bar); the SVG plots of
// kiln train --plot and kiln plot; kiln compile --emit=svg through Graphviz's dot.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
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

// Whether Graphviz's dot is on PATH; the picture tests skip without it.
bool HaveDot() {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path == nullptr ? "" : path, ':')) {
    if (!dir.empty() && access(absl::StrCat(dir, "/dot").c_str(), X_OK) == 0) return true;
  }
  return false;
}

// Every <text> of the SVG, in document order.
std::vector<std::string> SvgTexts(const testing::XmlElement& svg) {
  std::vector<std::string> texts;
  for (const testing::XmlElement* text : svg.All("text")) texts.push_back(text->text);
  return texts;
}

TEST(CompileSvgTest, WithoutDotSvgIsOneLineAndDotStillWorks) {
  TempDir empty;  // A PATH with nothing on it: no dot.
  RunResult svg = e2e::RunBinary("/usr/bin/env", {"PATH=" + empty.path().string(), KILN_BINARY,
                                                  "compile", kModel, "--emit=svg"});
  EXPECT_EQ(svg.exit_code, 1) << Describe(svg);
  EXPECT_EQ(svg.out, "");
  EXPECT_EQ(svg.err,
            "kiln: --emit=svg needs Graphviz's 'dot' on PATH (Debian: apt-get install graphviz); "
            "--emit=dot writes the graph without it\n");
  RunResult dot = e2e::RunBinary("/usr/bin/env", {"PATH=" + empty.path().string(), KILN_BINARY,
                                                  "compile", kModel, "--emit=dot"});
  ASSERT_TRUE(e2e::Succeeded(dot)) << Describe(dot);
  EXPECT_EQ(dot.out.rfind("digraph \"binary_classifier\" {", 0), 0u) << dot.out;
}

TEST(CompileSvgTest, ModelGraphIsAnSvgNamingTheLayers) {
  if (!HaveDot()) GTEST_SKIP() << "Graphviz's dot is not installed";
  RunResult run = RunKiln({"compile", kModel, "--emit=svg"});
  ASSERT_TRUE(e2e::Succeeded(run)) << Describe(run);
  std::string error;
  std::unique_ptr<testing::XmlElement> svg = testing::ParseXml(run.out, &error);
  ASSERT_NE(svg, nullptr) << error;
  EXPECT_EQ(svg->name, "svg");
  const std::vector<std::string> texts = SvgTexts(*svg);
  for (const char* expected : {"fc1.weight", "f32[10,16]", "h1", "prob", "loss"}) {
    EXPECT_NE(std::find(texts.begin(), texts.end(), expected), texts.end()) << expected;
  }
}

TEST(CompileSvgTest, TrainStepClustersAreTheFusedKernels) {
  if (!HaveDot()) GTEST_SKIP() << "Graphviz's dot is not installed";
  // The kernels as --emit=fusion lists them ("kernel k0_matmul_add_relu (matmul, 3 ops)").
  RunResult fusion = RunKiln({"compile", kModel, "--emit=fusion", "--mode", "train"});
  ASSERT_TRUE(e2e::Succeeded(fusion)) << Describe(fusion);
  std::set<std::string> kernels;
  const std::regex kernel_line(R"(kernel (\S+) \(.*)");
  for (const std::string& line : Lines(fusion.out)) {
    std::smatch match;
    if (std::regex_match(line, match, kernel_line)) kernels.insert(match[1]);
  }
  ASSERT_GE(kernels.size(), 5u) << fusion.out;

  RunResult run = RunKiln({"compile", kModel, "--emit=svg", "--mode", "train"});
  ASSERT_TRUE(e2e::Succeeded(run)) << Describe(run);
  std::string error;
  std::unique_ptr<testing::XmlElement> svg = testing::ParseXml(run.out, &error);
  ASSERT_NE(svg, nullptr) << error;
  // Graphviz draws each cluster as <g class="cluster"><title>cluster_NAME</title>...</g>.
  std::vector<const testing::XmlElement*> groups;
  svg->Collect([](const testing::XmlElement& e) { return e.Attribute("class") == "cluster"; },
               groups);
  std::set<std::string> clusters;
  for (const testing::XmlElement* group : groups) {
    std::vector<const testing::XmlElement*> titles = group->All("title");
    ASSERT_FALSE(titles.empty());
    clusters.insert(titles[0]->text.substr(std::string("cluster_").size()));
  }
  EXPECT_EQ(clusters, kernels);
}

TEST(TrainSetTest, SetReachesTheModelAndTheTrainSection) {
  TempDir dir;
  RunResult small = RunKiln({"train", kModel, "--epochs", "1", "--checkpoint", dir.File("16")});
  ASSERT_TRUE(e2e::Succeeded(small)) << Describe(small);
  RunResult large = RunKiln({"train", kModel, "--epochs", "1", "--checkpoint", dir.File("64"),
                             "--set", "hidden=64", "--set", "lr=0.003", "--set=batch_size=50"});
  ASSERT_TRUE(e2e::Succeeded(large)) << Describe(large);
  EXPECT_NE(large.out.find("batch 50, rmsprop lr 0.003,"), std::string::npos) << large.out;
  // hidden=64: 4929 parameters instead of 465, each with an RMSprop square average.
  EXPECT_GE(std::filesystem::file_size(dir.File("64")),
            std::filesystem::file_size(dir.File("16")) + 2 * 4 * (4929 - 465));
}

TEST(TrainSetTest, UnknownNameIsOneLine) {
  RunResult run = RunKiln({"train", kModel, "--set", "hiden=64"});
  EXPECT_EQ(run.exit_code, 1) << Describe(run);
  EXPECT_EQ(run.err,
            "kiln: --set hiden: no constant, train key or optimizer setting 'hiden' in the model "
            "(settable: hidden, data, optimizer, lr, alpha, eps, batch_size, epochs, seed, "
            "metrics)\n");
}

int Occurrences(const std::string& text, const std::string& what) {
  int count = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
  return count;
}

// One trial's line of DIR/results.json.
struct TunedTrial {
  std::string name, status;
  int epochs = 0;
  std::vector<double> losses;
};

std::vector<TunedTrial> ReadTuneResults(const std::string& json) {
  std::vector<TunedTrial> trials;
  const std::regex line(
      R"re(\{"trial":"(trial_\d+)","status":"([A-Z]+)","params":\{[^}]*\},"epochs":(\d+),)re"
      R"re("test_loss":\[([^\]]*)\])re");
  for (const std::string& text : Lines(json)) {
    std::smatch m;
    if (!std::regex_search(text, m, line)) continue;
    TunedTrial t{m[1], m[2], std::stoi(m[3]), {}};
    for (absl::string_view v : absl::StrSplit(std::string(m[4]), ',', absl::SkipEmpty())) {
      t.losses.push_back(std::stod(std::string(v)));
    }
    trials.push_back(std::move(t));
  }
  return trials;
}

TEST(TuneTest, AshaTunesTheBinaryClassifier) {
  TempDir dir;
  // max 2 epochs, grace 1, rf 2: one rung, at epoch 1.
  RunResult run = RunKiln({"tune",
                           kModel,
                           "--space",
                           "hidden=choice(4,16,64)",
                           "--space",
                           "lr=loguniform(1e-4,1e-1)",
                           "--trials",
                           "4",
                           "--parallel",
                           "2",
                           "--metric",
                           "test_loss",
                           "--mode",
                           "min",
                           "--scheduler",
                           "asha",
                           "--grace-period",
                           "1",
                           "--reduction-factor",
                           "2",
                           "--max-epochs",
                           "2",
                           "--seed",
                           "3",
                           "--out",
                           dir.File("tune")});
  ASSERT_TRUE(e2e::Succeeded(run)) << Describe(run);
  // The live table: a header naming the parameters, one row per trial.
  EXPECT_NE(run.out.find("trial    status      hidden  lr"), std::string::npos) << run.out;
  const std::vector<TunedTrial> trials =
      ReadTuneResults(e2e::ReadFile(dir.File("tune/results.json")));
  ASSERT_EQ(trials.size(), 4u) << e2e::ReadFile(dir.File("tune/results.json"));
  const TunedTrial* best_at_rung = nullptr;
  for (const TunedTrial& t : trials) {
    SCOPED_TRACE(t.name);
    // Stopped at the rung, or ran to the end.
    if (t.status == "STOPPED") EXPECT_EQ(t.epochs, 1);
    if (t.status == "TERMINATED") EXPECT_EQ(t.epochs, 2);
    EXPECT_TRUE(t.status == "STOPPED" || t.status == "TERMINATED") << t.status;
    ASSERT_EQ(static_cast<int>(t.losses.size()), t.epochs);
    // Each trial's own files: parameters, the metrics history, the checkpoint.
    const std::string trial_dir = dir.File("tune/" + t.name);
    EXPECT_NE(e2e::ReadFile(trial_dir + "/params.json").find("\"hidden\":"), std::string::npos);
    // The history kiln train wrote: a trial runs one rung at a time, so a stopped one ends
    // exactly at its rung.
    const std::string metrics = e2e::ReadFile(trial_dir + "/metrics.json");
    EXPECT_EQ(Occurrences(metrics, "\"epoch\":"), t.epochs) << metrics;
    EXPECT_NEAR(e2e::JsonNumber(metrics, "test_loss"), t.losses[0], 1e-5) << metrics;
    EXPECT_TRUE(std::filesystem::exists(trial_dir + "/checkpoint.ckpt"));
    if (best_at_rung == nullptr || t.losses[0] < best_at_rung->losses[0]) best_at_rung = &t;
  }
  // Whatever order the reports came in, the best at a rung ranks first there and continues.
  ASSERT_NE(best_at_rung, nullptr);
  EXPECT_EQ(best_at_rung->status, "TERMINATED") << best_at_rung->name;
  // The best configuration, as a command to rerun it.
  std::smatch best;
  ASSERT_TRUE(std::regex_search(
      run.out, best,
      std::regex(R"(Best trial (trial_\d): test_loss (\d\.\d{4}) after 2 epochs\n  kiln train )"
                 R"(\S+ --set hidden=(4|16|64) --set lr=\S+\n)")))
      << run.out;
}

TEST(TuneTest, BadSpaceIsOneLine) {
  RunResult run = RunKiln({"tune", kModel, "--space", "lr=lognormal(1,2)"});
  EXPECT_EQ(run.exit_code, 1) << Describe(run);
  EXPECT_EQ(run.err,
            "kiln: --space 'lr=lognormal(1,2)': unknown kind 'lognormal' (expected "
            "NAME=choice(a,b,..), uniform(lo,hi), loguniform(lo,hi) or randint(lo,hi))\n");
}

}  // namespace
}  // namespace kiln
