#include "runtime/dataset.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/data_sources.h"
#include "runtime/idx_reader.h"
#include "tests/runtime/idx_test_util.h"

namespace kiln::runtime {
namespace {

using testing::IdxBytes;
using testing::MakeTempDir;
using testing::WriteFile;

// Writes a 2x2-pixel data set: train has 5 samples, test 3; pixel values and labels are known.
void WriteTinyDataset(const std::string& dir, const std::string& test_prefix) {
  WriteFile(dir + "/train-images-idx3-ubyte.gz",
            IdxBytes(kIdxImagesMagic, {5, 2, 2},
                     {0, 255, 51, 102, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}),
            true);
  WriteFile(dir + "/train-labels-idx1-ubyte.gz", IdxBytes(kIdxLabelsMagic, {5}, {9, 0, 3, 3, 1}),
            true);
  WriteFile(dir + "/" + test_prefix + "images-idx3-ubyte.gz",
            IdxBytes(kIdxImagesMagic, {3, 2, 2}, std::vector<uint8_t>(12, 255)), true);
  WriteFile(dir + "/" + test_prefix + "labels-idx1-ubyte.gz",
            IdxBytes(kIdxLabelsMagic, {3}, {2, 4, 6}), true);
}

// Sample `sample`'s f32 features, from whichever form the data set holds them in.
std::vector<float> Features(const Dataset& data, int64_t sample) {
  std::vector<float> row(data.feature_dim);
  data.CopyFeatures(sample, 1, row.data());
  return row;
}

TEST(DatasetTest, LoadsAndTransformsOnce) {
  const std::string dir = MakeTempDir("dataset_fashion");
  WriteTinyDataset(dir, "t10k-");
  DataSpec spec;
  spec.path = dir;
  spec.scale = 1.0 / 255;
  spec.mean = {0.5};
  spec.stddev = {0.5};
  absl::StatusOr<DataSplits> data = LoadDataset(spec);
  ASSERT_TRUE(data.ok()) << data.status();
  const Dataset& train = data->train;
  EXPECT_EQ(train.num_samples, 5);
  EXPECT_EQ(train.feature_dim, 4);
  EXPECT_EQ(train.sample_shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(train.labels, (std::vector<int64_t>{9, 0, 3, 3, 1}));
  // (p / 255 - 0.5) / 0.5 for p = 0, 255, 51, 102.
  EXPECT_EQ(Features(train, 0), (std::vector<float>{-1.0f, 1.0f, static_cast<float>(-0.6),
                                                    static_cast<float>(-0.2)}));
  // Held as pixels where this CPU decodes them exactly, else as f32 features; never both.
  if (PixelDecoder::CpuSupported()) {
    EXPECT_TRUE(train.features.empty());
    ASSERT_EQ(train.pixels.size(), 20u);
    EXPECT_EQ(train.pixels[1], 255);
    EXPECT_EQ(train.pixel_transform.slope, (1.0 / 255) / 0.5);
    EXPECT_EQ(train.pixel_transform.intercept, -1.0);
  } else {
    EXPECT_TRUE(train.pixels.empty());
    EXPECT_EQ(train.features.size(), 20u);
  }
  EXPECT_EQ(data->test.num_samples, 3);
  EXPECT_EQ(data->test.labels, (std::vector<int64_t>{2, 4, 6}));
  EXPECT_EQ(Features(data->test, 2)[3], 1.0f);
}

TEST(DatasetTest, MnistWithTestPrefixAndLimits) {
  const std::string dir = MakeTempDir("dataset_mnist");
  WriteTinyDataset(dir, "test-");
  DataSpec spec;
  spec.source = "mnist";
  spec.path = dir;
  spec.train_limit = 2;
  spec.test_limit = 100;  // More than there are: keeps all.
  absl::StatusOr<DataSplits> data = LoadDataset(spec);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->train.num_samples, 2);
  EXPECT_EQ(data->train.features.size() + data->train.pixels.size(), 8u);
  EXPECT_EQ(data->train.labels, (std::vector<int64_t>{9, 0}));
  EXPECT_EQ(Features(data->train, 0)[1], 255.0f);  // No transform: raw byte values.
  EXPECT_EQ(data->test.num_samples, 3);
}

// idx(path=...) is the documented name for any MNIST-style directory; the frontend accepted it
// and the runtime once refused it ("unknown data source 'idx'").
TEST(DatasetTest, IdxSourceReadsAnyMnistStyleDirectory) {
  const std::string dir = MakeTempDir("dataset_idx");
  WriteTinyDataset(dir, "t10k-");
  DataSpec spec;
  spec.source = "idx";
  spec.path = dir;
  absl::StatusOr<DataSplits> data = LoadDataset(spec);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->train.labels, (std::vector<int64_t>{9, 0, 3, 3, 1}));
  EXPECT_EQ(data->test.num_samples, 3);
  spec.path.clear();
  EXPECT_EQ(LoadDataset(spec).status().message(),
            "data source 'idx' needs a path: the directory holding train-images-idx3-ubyte.gz");
}

TEST(DatasetTest, CountMismatchIsAnError) {
  const std::string dir = MakeTempDir("dataset_mismatch");
  WriteTinyDataset(dir, "t10k-");
  WriteFile(dir + "/train-labels-idx1-ubyte.gz", IdxBytes(kIdxLabelsMagic, {4}, {1, 2, 3, 4}),
            true);
  DataSpec spec;
  spec.path = dir;
  EXPECT_EQ(LoadDataset(spec).status().message(),
            dir + "/train-labels-idx1-ubyte.gz has 4 labels but " + dir +
                "/train-images-idx3-ubyte.gz has 5 images");
}

// Test labels of 10 for a 10-class model used to train and report "test accuracy 0.0000,
// test loss 0.0000": an out-of-range label indexes past the scores. Loading refuses it,
// naming the file, the sample and the label; unchecked when the class count is unknown (0).
TEST(DatasetTest, LabelsOutOfRangeForTheModelsClassesAreRefused) {
  const std::string dir = MakeTempDir("dataset_labels");
  WriteTinyDataset(dir, "t10k-");
  WriteFile(dir + "/t10k-labels-idx1-ubyte.gz", IdxBytes(kIdxLabelsMagic, {3}, {10, 10, 10}),
            true);
  DataSpec spec;
  spec.path = dir;
  EXPECT_TRUE(LoadDataset(spec).ok());
  spec.num_classes = 10;
  EXPECT_EQ(LoadDataset(spec).status().message(),
            dir + "/t10k-labels-idx1-ubyte.gz: label 10 of sample 0 is out of range for 10 "
                  "classes");
  // The train labels are 9, 0, 3, 3, 1.
  spec.num_classes = 5;
  EXPECT_EQ(LoadDataset(spec).status().message(),
            dir + "/train-labels-idx1-ubyte.gz: label 9 of sample 0 is out of range for 5 "
                  "classes");
}

TEST(DatasetTest, MissingFilesNameTheExpectedFile) {
  const std::string dir = MakeTempDir("dataset_missing");
  DataSpec spec;
  spec.path = dir;
  EXPECT_EQ(LoadDataset(spec).status().message(),
            dir + "/train-images-idx3-ubyte.gz: cannot open: No such file or directory");
}

TEST(DatasetTest, BadSpecs) {
  DataSpec spec;
  spec.source = "cifar10";
  EXPECT_EQ(LoadDataset(spec).status().message(),
            "unknown data source 'cifar10' (expected fashion_mnist, mnist, idx, csv, tensors, "
            "make_classification or make_regression)");
  spec.source = "mnist";
  EXPECT_EQ(LoadDataset(spec).status().message(),
            "data source 'mnist' needs a path: the directory holding train-images-idx3-ubyte.gz");

  const std::string dir = MakeTempDir("dataset_badspec");
  WriteTinyDataset(dir, "t10k-");
  spec.path = dir;
  spec.mean = {0.485, 0.456, 0.406};
  spec.stddev = {0.229, 0.224, 0.225};
  EXPECT_EQ(LoadDataset(spec).status().message(),
            "data transform: mean/std have 3 entries but mnist images have 1 channel");
  spec.mean = {0.5};
  spec.stddev = {};
  EXPECT_EQ(LoadDataset(spec).status().message(),
            "data transform: mean has 1 entries but std has 0");
}

// docs/dsl.md's "Data sources" section names every source of the table and every argument
// each takes.
TEST(DataSourceTableTest, DocsDescribeEverySourceAndArgument) {
  std::ifstream file("docs/dsl.md");
  ASSERT_TRUE(file) << "run from the source root";
  const std::string docs((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const size_t begin = docs.find("### Data sources");
  const size_t end = docs.find("\n### ", begin + 1);
  ASSERT_NE(begin, std::string::npos);
  const std::string section = docs.substr(begin, end - begin);
  for (const DataSource& source : DataSources()) {
    const std::string name(source.name);
    EXPECT_NE(section.find("`" + name), std::string::npos) << "undocumented source " << name;
    for (const DataArg& arg : ArgsOf(source)) {
      const std::regex word("\\b" + std::string(arg.name) + "\\b");
      EXPECT_TRUE(std::regex_search(section, word))
          << name << ": argument " << arg.name << " is not documented";
    }
  }
}

// Each source's arguments have distinct names, and LoadDataset reaches every source's loader
// (here: an image source without a path fails in the loader, naming the source).
TEST(DataSourceTableTest, ArgumentsAreDistinctAndLoadersAreReached) {
  for (const DataSource& source : DataSources()) {
    std::set<std::string_view> names;
    for (const DataArg& arg : ArgsOf(source)) {
      EXPECT_TRUE(names.insert(arg.name).second) << source.name << " has two " << arg.name;
    }
    EXPECT_EQ(FindDataSource(source.name), &source);
  }
  EXPECT_EQ(FindDataSource("cifar10"), nullptr);
  DataSpec spec;
  spec.source = "idx";
  EXPECT_EQ(LoadDataset(spec).status().message(),
            "data source 'idx' needs a path: the directory holding train-images-idx3-ubyte.gz");
}

// Checkpoints record a run's data options as the record's arguments with these values.
TEST(DataSourceTableTest, ArgValueTextWritesValuesAsAModelFileWould) {
  DataSpec spec;
  spec.source = "csv";
  spec.features = {"a", "b"};
  spec.mean = {0.5};
  spec.stddev = {0.25};
  spec.seed = 7;
  spec.params = {{"noise", 1.5}};
  std::map<std::string, std::string> text;
  for (const DataSource* source : {FindDataSource("csv"), FindDataSource("mnist"),
                                   FindDataSource("make_regression")}) {
    for (const DataArg& arg : ArgsOf(*source)) {
      text[std::string(arg.name)] = ArgValueText(arg, spec);
    }
  }
  EXPECT_EQ(text["features"], "[a,b]");
  EXPECT_EQ(text["normalize"], "((0.5),(0.25))");
  EXPECT_EQ(text["seed"], "7");
  EXPECT_EQ(text["test_fraction"], "0.1");
  EXPECT_EQ(text["shuffle"], "true");
  EXPECT_EQ(text["noise"], "1.5");
  EXPECT_EQ(text["bias"], "");  // Left at scikit-learn's default.
}

TEST(DatasetTest, RealFashionMnist) {
  if (!std::filesystem::exists(kFashionMnistDefaultDir)) {
    GTEST_SKIP() << kFashionMnistDefaultDir << " is absent";
  }
  DataSpec spec;
  spec.scale = 1.0 / 255;
  absl::StatusOr<DataSplits> data = LoadDataset(spec);
  ASSERT_TRUE(data.ok()) << data.status();
  for (const Dataset* split : {&data->train, &data->test}) {
    EXPECT_EQ(split->feature_dim, 784);
    EXPECT_EQ(split->sample_shape, (std::vector<int64_t>{28, 28}));
    EXPECT_EQ(*std::min_element(split->labels.begin(), split->labels.end()), 0);
    EXPECT_EQ(*std::max_element(split->labels.begin(), split->labels.end()), 9);
    std::vector<float> features(split->num_samples * split->feature_dim);
    split->CopyFeatures(0, split->num_samples, features.data());
    const auto [lo, hi] = std::minmax_element(features.begin(), features.end());
    EXPECT_EQ(*lo, 0.0f);
    EXPECT_EQ(*hi, 1.0f);
  }
  EXPECT_EQ(data->train.num_samples, 60000);
  EXPECT_EQ(data->test.num_samples, 10000);
  // Fashion-MNIST's classes are balanced: 6000 training images each.
  EXPECT_EQ(std::count(data->train.labels.begin(), data->train.labels.end(), 7), 6000);
}

}  // namespace
}  // namespace kiln::runtime
