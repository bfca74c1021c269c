// `kiln predict` end to end (issue 13 item 4): train fashion_mlp briefly, predict its test
// split, and read both outputs back: the CSV parsed row by row, the --grid SVG with expat, and
// each embedded PNG decoded.
#include <cmath>
#include <cstring>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/e2e/kiln_process.h"
#include "tests/tools/png_reader.h"
#include "tests/tools/svg_reader.h"

namespace kiln {
namespace {

using e2e::Describe;
using e2e::RunKiln;
using e2e::RunResult;
using e2e::TempDir;

constexpr char kModel[] = "examples/fashion_mlp.kiln";

TEST(PredictTest, WritesCsvAndACaptionedGridOfTestImages) {
  if (!e2e::HaveFashionMnist()) GTEST_SKIP() << e2e::kFashionMnistDir << " is not installed";
  TempDir dir;
  const std::vector<std::string> limits = {"--train-limit", "2000",      "--test-limit",
                                           "500",           "--threads", "2"};
  std::vector<std::string> train = {"train",   kModel,         "--epochs",        "1",
                                    "--quiet", "--checkpoint", dir.File("w.ckpt")};
  train.insert(train.end(), limits.begin(), limits.end());
  RunResult trained = RunKiln(train);
  ASSERT_EQ(trained.exit_code, 0) << Describe(trained);

  std::vector<std::string> predict = {
      "predict",         kModel,   "--weights",       dir.File("w.ckpt"), "-o",
      dir.File("p.csv"), "--grid", dir.File("g.svg"), "--count",          "12",
      "--columns",       "6"};
  predict.insert(predict.end(), limits.begin(), limits.end());
  RunResult predicted = RunKiln(predict);
  ASSERT_EQ(predicted.exit_code, 0) << Describe(predicted);

  // The CSV: a header and one row per test sample, the class the most probable one.
  std::vector<std::string> lines =
      absl::StrSplit(e2e::ReadFile(dir.File("p.csv")), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 501u);
  EXPECT_EQ(lines[0], "class,p0,p1,p2,p3,p4,p5,p6,p7,p8,p9");
  std::vector<int> classes;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::string> cells = absl::StrSplit(lines[i], ',');
    ASSERT_EQ(cells.size(), 11u) << lines[i];
    int cls = -1;
    ASSERT_TRUE(absl::SimpleAtoi(cells[0], &cls)) << lines[i];
    double sum = 0, best = -1;
    int argmax = -1;
    for (int c = 0; c < 10; ++c) {
      double p = 0;
      ASSERT_TRUE(absl::SimpleAtod(cells[c + 1], &p)) << lines[i];
      sum += p;
      if (p > best) best = p, argmax = c;
    }
    EXPECT_NEAR(sum, 1.0, 1e-4) << lines[i];
    EXPECT_EQ(cls, argmax) << lines[i];
    classes.push_back(cls);
  }

  // The grid: twelve 28x28 images, each captioned "predicted (truth)" with the CSV's class,
  // green when it matches the truth and red when not.
  std::string error;
  auto svg = testing::ParseXml(e2e::ReadFile(dir.File("g.svg")), &error);
  ASSERT_NE(svg, nullptr) << error;
  const auto images = svg->All("image");
  ASSERT_EQ(images.size(), 12u);
  std::vector<const testing::XmlElement*> captions;
  svg->Collect([](const testing::XmlElement& e) { return e.Attribute("class") == "caption"; },
               captions);
  ASSERT_EQ(captions.size(), 12u);
  const std::regex caption(R"((\d) \((\d)\))");
  int right = 0;
  for (size_t i = 0; i < 12; ++i) {
    std::smatch match;
    ASSERT_TRUE(std::regex_match(captions[i]->text, match, caption)) << captions[i]->text;
    EXPECT_EQ(std::stoi(match[1]), classes[i]);
    const bool correct = match[1] == match[2];
    right += correct;
    EXPECT_EQ(captions[i]->Attribute("fill"), correct ? "#1a7f37" : "#cf222e");
    std::string png;
    ASSERT_TRUE(absl::Base64Unescape(
        images[i]->Attribute("href").substr(std::string("data:image/png;base64,").size()), &png));
    auto decoded = testing::DecodeGrayPng(png, &error);
    ASSERT_TRUE(decoded.has_value()) << error;
    EXPECT_EQ(decoded->width, 28);
    EXPECT_EQ(decoded->height, 28);
  }
  const auto titles = svg->All("text");
  EXPECT_NE(titles[0]->text.find(absl::StrCat(right, " of 12 right")), std::string::npos)
      << titles[0]->text;
}

TEST(PredictTest, NeedsWeights) {
  RunResult r = RunKiln({"predict", kModel});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_NE(r.err.find("usage: kiln predict FILE --weights CKPT"), std::string::npos) << r.err;
}

// `kiln features` (issue 13 item 5): the input and six channels of each captured value as
// images of their sizes, and the values themselves as kiln tensor files.
TEST(FeaturesTest, DrawsTheInputAndSixChannelsOfEachCapturedValue) {
  if (!e2e::HaveFashionMnist()) GTEST_SKIP() << e2e::kFashionMnistDir << " is not installed";
  TempDir dir;
  const std::string cnn = "examples/fashion_cnn.kiln";
  const std::vector<std::string> limits = {"--train-limit", "500", "--test-limit", "50",
                                           "--threads",     "2"};
  std::vector<std::string> train = {
      "train", cnn, "--epochs", "1", "--quiet", "--checkpoint", dir.File("cnn.ckpt")};
  train.insert(train.end(), limits.begin(), limits.end());
  RunResult trained = RunKiln(train);
  ASSERT_EQ(trained.exit_code, 0) << Describe(trained);
  std::vector<std::string> features = {
      "features", cnn, "--weights", dir.File("cnn.ckpt"), "--capture",     "c1,c2",
      "--index",  "3", "-o",        dir.File("f.svg"),    "--out-tensors", dir.File("maps.kt")};
  features.insert(features.end(), limits.begin(), limits.end());
  RunResult run = RunKiln(features);
  ASSERT_EQ(run.exit_code, 0) << Describe(run);

  std::string error;
  auto svg = testing::ParseXml(e2e::ReadFile(dir.File("f.svg")), &error);
  ASSERT_NE(svg, nullptr) << error;
  const auto images = svg->All("image");
  ASSERT_EQ(images.size(), 13u);  // The input, then 6 channels each of c1 and c2.
  std::vector<const testing::XmlElement*> captions;
  svg->Collect([](const testing::XmlElement& e) { return e.Attribute("class") == "caption"; },
               captions);
  ASSERT_EQ(captions.size(), 13u);
  EXPECT_EQ(captions[0]->text.rfind("input 3 (label ", 0), 0u) << captions[0]->text;
  EXPECT_EQ(captions[1]->text, "c1[0] 14x14");
  EXPECT_EQ(captions[12]->text, "c2[5] 7x7");
  const std::vector<int> sizes = {28, 14, 14, 14, 14, 14, 14, 7, 7, 7, 7, 7, 7};
  for (size_t i = 0; i < images.size(); ++i) {
    std::string png;
    ASSERT_TRUE(absl::Base64Unescape(
        images[i]->Attribute("href").substr(std::string("data:image/png;base64,").size()), &png));
    auto decoded = testing::DecodeGrayPng(png, &error);
    ASSERT_TRUE(decoded.has_value()) << error;
    EXPECT_EQ(decoded->width, sizes[i]) << i;
    EXPECT_EQ(decoded->height, sizes[i]) << i;
  }
  // The tensor files' headers (runtime/tensor_file.h): magic, rank 4, dims [1, C, H, W].
  for (const auto& [name, dims] : std::vector<std::pair<std::string, std::vector<int64_t>>>{
           {"c1", {1, 32, 14, 14}}, {"c2", {1, 64, 7, 7}}}) {
    const std::string bytes = e2e::ReadFile(dir.File("maps." + name + ".kt"));
    ASSERT_GE(bytes.size(), 24u + 8 * dims.size()) << name;
    EXPECT_EQ(bytes.substr(0, 8), "KILNTNSR");
    EXPECT_EQ(static_cast<uint8_t>(bytes[16]), dims.size());
    for (size_t d = 0; d < dims.size(); ++d) {
      int64_t dim = 0;
      std::memcpy(&dim, bytes.data() + 24 + 8 * d, 8);
      EXPECT_EQ(dim, dims[d]) << name << " dim " << d;
    }
    // Header, f32 data, CRC.
    EXPECT_EQ(bytes.size(), 24 + 8 * dims.size() + 4 * (dims[1] * dims[2] * dims[3]) + 4);
  }
}

}  // namespace
}  // namespace kiln
