// Tabular data: the CSV reader, kiln's tensor file, the scikit-learn-style generators, the
// seeded train/test split, the standardizer, one-hot targets, and LoadDataset putting them
// together.
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "runtime/csv_reader.h"
#include "runtime/dataset.h"
#include "runtime/preprocess.h"
#include "runtime/synthetic.h"
#include "runtime/tensor_file.h"
#include "tests/runtime/memory_limit.h"

namespace kiln::runtime {
namespace {

namespace fs = std::filesystem;

fs::path TempPath(const std::string& name) {
  return fs::temp_directory_path() / ("kiln_tabular_" + std::to_string(::getpid()) + "_" + name);
}

fs::path WriteText(const std::string& name, const std::string& text) {
  const fs::path path = TempPath(name);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// --- CSV ---------------------------------------------------------------------------------

TEST(CsvTest, ReadsChosenColumnsInOrder) {
  auto table = ParseCsv("a,b,c,y\n1,2,3,0\n4, 5 ,6,1\r\n\n", "t.csv", {"c", "a"}, "y");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->rows, 2);
  EXPECT_EQ(table->feature_names, (std::vector<std::string>{"c", "a"}));
  EXPECT_EQ(table->features, (std::vector<float>{3, 1, 6, 4}));
  EXPECT_EQ(table->label, (std::vector<double>{0, 1}));
}

TEST(CsvTest, DefaultsToAllColumnsButTheLabel) {
  auto table = ParseCsv("x1,label,x2\n1.5,2,-3e2\n", "t.csv", {}, "label");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->feature_names, (std::vector<std::string>{"x1", "x2"}));
  EXPECT_EQ(table->features, (std::vector<float>{1.5f, -300.0f}));
  // Without a label name the last column is the label.
  auto last = ParseCsv("p,q\n1,2\n", "t.csv", {}, "");
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->label_name, "q");
  EXPECT_EQ(last->features, (std::vector<float>{1}));
}

TEST(CsvTest, BadCellNamesLineColumnAndHeader) {
  auto table = ParseCsv("a,b,y\n1,2,0\n3,n/a,1\n", "data.csv", {}, "y");
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().message(),
            "data.csv:3:3: cannot parse 'n/a' as a number (column 'b')");
}

TEST(CsvTest, WrongCellCountIsAnError) {
  auto table = ParseCsv("a,b,y\n1,2\n", "data.csv", {}, "y");
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().message(), "data.csv:2: 2 cells, but the header has 3");
}

TEST(CsvTest, MissingColumnSuggestsTheClosest) {
  auto table = ParseCsv("age,income,y\n1,2,0\n", "data.csv", {"agee"}, "y");
  ASSERT_FALSE(table.ok());
  EXPECT_NE(table.status().message().find("no column 'agee', did you mean 'age'?"),
            std::string::npos)
      << table.status();
  EXPECT_EQ(table.status().message().find('\n'), std::string::npos);
}

TEST(CsvTest, MissingFileIsOneLine) {
  auto table = ReadCsv("/nonexistent/kiln.csv", {}, "");
  ASSERT_FALSE(table.ok());
  EXPECT_TRUE(absl::IsNotFound(table.status()));
  EXPECT_NE(table.status().message().find("/nonexistent/kiln.csv: cannot open"),
            std::string::npos);
  EXPECT_EQ(table.status().message().find('\n'), std::string::npos);
}

// /dev/zero never ends: read like a file it would fill memory (here, with a 2 GiB address
// space, kill the child). Only regular files are read.
TEST(CsvTest, DevicesAreRefusedNotReadForever) {
  EXPECT_EXIT(
      {
        testing::LimitAddressSpace();
        std::cerr << ReadCsv("/dev/zero", {}, "").status().message();
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "/dev/zero: not a regular file \\(a character device\\)");
}

// --- Tensor files ------------------------------------------------------------------------

TEST(TensorFileTest, DevicesAreRefusedNotReadForever) {
  EXPECT_EXIT(
      {
        testing::LimitAddressSpace();
        std::cerr << ReadTensorFile("/dev/zero").status().message();
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "/dev/zero: not a regular file \\(a character device\\)");
}

// A small file whose header (with a valid CRC) claims 2^37 elements: refused by comparing the
// claim with the file's size, before anything that size is allocated.
TEST(TensorFileTest, ShapeClaimingMoreThanTheFileHoldsIsRefusedBeforeAllocating) {
  std::string bytes = EncodeTensorFile(HostTensor{ElementType::kF32, {4}, {1, 2, 3, 4}, {}});
  const int64_t claim = int64_t{1} << 37;
  std::memcpy(bytes.data() + 24, &claim, sizeof(claim));
  const uint32_t crc = crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size() - 4);
  std::memcpy(bytes.data() + bytes.size() - 4, &crc, sizeof(crc));
  const fs::path path = WriteText("claim.kt", bytes);
  EXPECT_EXIT(
      {
        testing::LimitAddressSpace();
        std::cerr << ReadTensorFile(path).status().message();
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "52 bytes, but shape and dtype need 549755813924");
  fs::remove(path);
}

TEST(TensorFileTest, RoundTripsF32AndI64) {
  HostTensor x{ElementType::kF32, {2, 3}, {1, -2, 3.5f, 0, 1e-30f, -7}, {}};
  const fs::path path = TempPath("x.kt");
  ASSERT_TRUE(WriteTensorFile(path, x).ok());
  auto back = ReadTensorFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->type, ElementType::kF32);
  EXPECT_EQ(back->shape, x.shape);
  EXPECT_EQ(back->f32, x.f32);
  fs::remove(path);

  HostTensor y{ElementType::kI64, {3}, {}, {0, 1, int64_t{1} << 40}};
  auto decoded = DecodeTensorFile(EncodeTensorFile(y), "y.kt");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->i64, y.i64);
}

TEST(TensorFileTest, LayoutIsTheDocumentedOne) {
  HostTensor y{ElementType::kI64, {1}, {}, {5}};
  const std::string bytes = EncodeTensorFile(y);
  ASSERT_EQ(bytes.size(), 8u + 16u + 8u + 8u + 4u);
  EXPECT_EQ(bytes.substr(0, 8), "KILNTNSR");
  EXPECT_EQ(bytes[8], 1);   // version
  EXPECT_EQ(bytes[12], 2);  // dtype i64
  EXPECT_EQ(bytes[16], 1);  // rank
  EXPECT_EQ(bytes[24], 1);  // dim 0
  EXPECT_EQ(bytes[32], 5);  // the value, little-endian
}

TEST(TensorFileTest, CorruptionIsOneLineError) {
  HostTensor x{ElementType::kF32, {4}, {1, 2, 3, 4}, {}};
  std::string bytes = EncodeTensorFile(x);
  std::string flipped = bytes;
  flipped[30] ^= 0x10;
  auto bad_crc = DecodeTensorFile(flipped, "x.kt");
  ASSERT_FALSE(bad_crc.ok());
  EXPECT_EQ(bad_crc.status().message(),
            "x.kt: not a valid kiln tensor file: checksum mismatch (truncated or damaged)");
  auto truncated = DecodeTensorFile(bytes.substr(0, bytes.size() - 3), "x.kt");
  EXPECT_FALSE(truncated.ok());
  auto magic = DecodeTensorFile("PK\x03\x04 something else entirely", "x.kt");
  ASSERT_FALSE(magic.ok());
  EXPECT_NE(magic.status().message().find("bad magic"), std::string::npos);
  EXPECT_TRUE(absl::IsNotFound(ReadTensorFile("/nonexistent/x.kt").status()));
}

TEST(TensorFileTest, WriterChecksShapeAgainstData) {
  HostTensor x{ElementType::kF32, {2, 2}, {1, 2, 3}, {}};
  EXPECT_FALSE(WriteTensorFile(TempPath("bad.kt"), x).ok());
}

// --- Generators --------------------------------------------------------------------------

std::vector<int64_t> ClassCounts(const Dataset& data, int64_t classes) {
  std::vector<int64_t> counts(classes, 0);
  for (int64_t label : data.labels) ++counts.at(label);
  return counts;
}

TEST(MakeClassificationTest, ShapesBalanceAndDeterminism) {
  ClassificationParams p;
  p.n_samples = 1000;
  p.n_features = 10;
  p.seed = 42;
  auto a = MakeClassification(p);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->num_samples, 1000);
  EXPECT_EQ(a->feature_dim, 10);
  EXPECT_EQ(a->features.size(), 10000u);
  EXPECT_EQ(a->labels.size(), 1000u);
  EXPECT_EQ(a->target_dim, 0);
  // Balanced clusters; flip_y=0.01 moves only a handful of labels.
  const std::vector<int64_t> counts = ClassCounts(*a, 2);
  EXPECT_NEAR(counts[0], 500, 15);
  EXPECT_NEAR(counts[1], 500, 15);

  auto b = MakeClassification(p);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->features, b->features);
  EXPECT_EQ(a->labels, b->labels);
  p.seed = 43;
  auto c = MakeClassification(p);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(a->features, c->features);
}

TEST(MakeClassificationTest, ExactlyBalancedWithoutLabelNoise) {
  ClassificationParams p;
  p.n_samples = 300;
  p.n_features = 9;
  p.n_informative = 9;
  p.n_redundant = 0;
  p.n_classes = 3;
  p.flip_y = 0;
  auto data = MakeClassification(p);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(ClassCounts(*data, 3), (std::vector<int64_t>{100, 100, 100}));
}

// Redundant features are linear combinations of the informative ones, so without shuffling
// the columns, [informative | redundant] has rank n_informative.
TEST(MakeClassificationTest, RedundantFeaturesAreLinearCombinations) {
  ClassificationParams p;
  p.n_samples = 50;
  p.n_features = 5;
  p.n_informative = 2;
  p.n_redundant = 2;
  p.n_repeated = 1;
  p.shuffle = false;
  auto data = MakeClassification(p);
  ASSERT_TRUE(data.ok()) << data.status();
  // Solve redundant column 2 = a*col0 + b*col1 from two rows and check it on all rows.
  auto at = [&](int64_t r, int64_t c) { return static_cast<double>(data->row(r)[c]); };
  const double det = at(0, 0) * at(1, 1) - at(0, 1) * at(1, 0);
  ASSERT_GT(std::abs(det), 1e-6);
  const double a = (at(0, 2) * at(1, 1) - at(0, 1) * at(1, 2)) / det;
  const double b = (at(0, 0) * at(1, 2) - at(0, 2) * at(1, 0)) / det;
  for (int64_t r = 0; r < 50; ++r) {
    EXPECT_NEAR(at(r, 2), a * at(r, 0) + b * at(r, 1), 1e-3 * (1 + std::abs(at(r, 2))));
  }
  // The repeated column copies one of the first four.
  bool copies = false;
  for (int64_t c = 0; c < 4; ++c) {
    bool same = true;
    for (int64_t r = 0; r < 50; ++r) same = same && at(r, 4) == at(r, c);
    copies = copies || same;
  }
  EXPECT_TRUE(copies);
}

// class_sep pulls the clusters apart: a nearest-centroid rule gets better with it.
double NearestMeanAccuracy(const Dataset& data) {
  const int64_t d = data.feature_dim;
  std::vector<double> mean[2] = {std::vector<double>(d, 0), std::vector<double>(d, 0)};
  int64_t count[2] = {0, 0};
  for (int64_t r = 0; r < data.num_samples; ++r) {
    ++count[data.labels[r]];
    for (int64_t j = 0; j < d; ++j) mean[data.labels[r]][j] += data.row(r)[j];
  }
  for (int k = 0; k < 2; ++k) {
    for (double& m : mean[k]) m /= count[k];
  }
  int64_t correct = 0;
  for (int64_t r = 0; r < data.num_samples; ++r) {
    double dist[2] = {0, 0};
    for (int k = 0; k < 2; ++k) {
      for (int64_t j = 0; j < d; ++j) dist[k] += std::pow(data.row(r)[j] - mean[k][j], 2);
    }
    correct += (dist[1] < dist[0]) == (data.labels[r] == 1);
  }
  return static_cast<double>(correct) / data.num_samples;
}

TEST(MakeClassificationTest, ClassSepControlsDifficulty) {
  ClassificationParams p;
  p.n_samples = 2000;
  p.n_features = 4;
  p.n_informative = 2;
  p.n_redundant = 0;
  p.n_clusters_per_class = 1;
  p.flip_y = 0;
  p.class_sep = 0.2;
  auto hard = MakeClassification(p);
  p.class_sep = 3.0;
  auto easy = MakeClassification(p);
  ASSERT_TRUE(hard.ok() && easy.ok());
  EXPECT_GT(NearestMeanAccuracy(*easy), 0.95);
  EXPECT_LT(NearestMeanAccuracy(*hard), 0.8);
}

TEST(MakeClassificationTest, RejectsImpossibleParameters) {
  ClassificationParams p;
  p.n_features = 3;  // 2 informative + 2 redundant > 3
  EXPECT_FALSE(MakeClassification(p).ok());
  p = ClassificationParams();
  p.n_classes = 3;  // 3 classes * 2 clusters > 2**2 vertices
  auto status = MakeClassification(p).status();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("2**n_informative"), std::string::npos);
}

TEST(MakeClassificationTest, ParamsByNameWithDidYouMean) {
  auto p = ClassificationParamsOf({{"n_samples", 10}, {"n_features", 4}, {"class_sep", 2}}, 9);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->n_samples, 10);
  EXPECT_EQ(p->class_sep, 2);
  EXPECT_EQ(p->seed, 9u);
  auto typo = ClassificationParamsOf({{"n_sample", 10}}, 0);
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("did you mean 'n_samples'"), std::string::npos);
  EXPECT_FALSE(ClassificationParamsOf({{"n_samples", 10.5}}, 0).ok());
}

TEST(MakeRegressionTest, LinearTargetsWithNoise) {
  RegressionParams p;
  p.n_samples = 500;
  p.n_features = 10;
  p.n_informative = 10;
  p.shuffle = false;
  p.seed = 1;
  auto data = MakeRegression(p);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->target_dim, 1);
  EXPECT_EQ(data->targets.size(), 500u);
  EXPECT_EQ(data->labels, std::vector<int64_t>(500, 0));
  // Without noise the targets are an exact linear function: recover the weights from the
  // mean of x_j * y (X is standard normal, so E[x_j y] = w_j) and check they are in [0, 100).
  double spread = 0;
  for (float y : data->targets) spread = std::max(spread, std::abs(static_cast<double>(y)));
  EXPECT_GT(spread, 50);
  p.noise = 10;
  auto noisy = MakeRegression(p);
  ASSERT_TRUE(noisy.ok());
  double diff = 0;
  for (int64_t i = 0; i < 500; ++i) diff += std::pow(noisy->targets[i] - data->targets[i], 2);
  EXPECT_NEAR(std::sqrt(diff / 500), 10.0, 1.5);  // The noise has std `noise`.
  EXPECT_EQ(noisy->features, data->features);     // Noise is drawn after X and w.
}

// --- Split, standardize, one-hot ---------------------------------------------------------

Dataset Numbered(int64_t n) {
  Dataset data;
  data.num_samples = n;
  data.feature_dim = 2;
  data.sample_shape = {2};
  for (int64_t i = 0; i < n; ++i) {
    data.features.push_back(static_cast<float>(i));
    data.features.push_back(static_cast<float>(10 * i));
    data.labels.push_back(i % 3);
  }
  return data;
}

TEST(SplitTest, SeededPartitionWithCeilTestSize) {
  const Dataset data = Numbered(25);
  auto a = SplitTrainTest(data, 0.1, 7);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->test.num_samples, 3);  // ceil(2.5)
  EXPECT_EQ(a->train.num_samples, 22);
  std::set<float> seen;
  for (const Dataset* part : {&a->train, &a->test}) {
    for (int64_t r = 0; r < part->num_samples; ++r) {
      seen.insert(part->row(r)[0]);
      // Rows stay whole: feature 1 is 10x feature 0, the label follows the row.
      EXPECT_EQ(part->row(r)[1], 10 * part->row(r)[0]);
      EXPECT_EQ(part->labels[r], static_cast<int64_t>(part->row(r)[0]) % 3);
    }
  }
  EXPECT_EQ(seen.size(), 25u);
  auto again = SplitTrainTest(data, 0.1, 7);
  EXPECT_EQ(again->test.features, a->test.features);
  auto other = SplitTrainTest(data, 0.1, 8);
  EXPECT_NE(other->train.features, a->train.features);
  EXPECT_FALSE(SplitTrainTest(data, 1.0, 7).ok());
  EXPECT_FALSE(SplitTrainTest(Numbered(1), 0.5, 7).ok());
}

TEST(StandardizerTest, FitsOnTrainAndAppliesToTest) {
  Dataset train = Numbered(4);  // feature 0: 0,1,2,3 (mean 1.5, population std sqrt(1.25))
  train.features[1] = train.features[3] = train.features[5] = train.features[7] = 5;  // constant
  Dataset test = Numbered(1);
  test.features = {3, 5};
  const Standardizer scaler = Standardizer::Fit(train);
  EXPECT_DOUBLE_EQ(scaler.mean()[0], 1.5);
  EXPECT_DOUBLE_EQ(scaler.scale()[0], std::sqrt(1.25));
  EXPECT_DOUBLE_EQ(scaler.scale()[1], 1.0);  // Constant feature: std 1, like sklearn.
  scaler.Apply(train);
  scaler.Apply(test);
  double sum = 0, sum_sq = 0;
  for (int64_t r = 0; r < 4; ++r) {
    sum += train.row(r)[0];
    sum_sq += train.row(r)[0] * train.row(r)[0];
    EXPECT_EQ(train.row(r)[1], 0.0f);
  }
  EXPECT_NEAR(sum / 4, 0.0, 1e-6);
  EXPECT_NEAR(sum_sq / 4, 1.0, 1e-6);
  EXPECT_FLOAT_EQ(test.features[0], static_cast<float>(1.5 / std::sqrt(1.25)));
}

// Selected rows of data held as pixels stay pixels, with their transform.
TEST(SelectRowsTest, KeepsPixelsAsPixels) {
  Dataset pixels = Numbered(4);
  pixels.features.clear();
  for (int p = 0; p < 256; ++p) pixels.pixel_transform.values[p] = 0.5f * static_cast<float>(p);
  for (int64_t i = 0; i < 4; ++i) pixels.pixels.insert(pixels.pixels.end(), {uint8_t(i), uint8_t(10 * i)});
  const Dataset picked = SelectRows(pixels, {3, 1});
  EXPECT_TRUE(picked.features.empty());
  EXPECT_EQ(picked.pixels, (std::vector<uint8_t>{3, 30, 1, 10}));
  std::vector<float> features(4);
  picked.CopyFeatures(0, 2, features.data());
  EXPECT_EQ(features, (std::vector<float>{1.5f, 15.0f, 0.5f, 5.0f}));
  EXPECT_EQ(picked.labels, (std::vector<int64_t>{0, 1}));
}

// Data held as pixels is standardized like its features: the result is held as f32 features.
TEST(StandardizerTest, StandardizesPixelsIntoFeatures) {
  Dataset floats = Numbered(4);
  Dataset pixels = floats;
  pixels.features.clear();
  for (int p = 0; p < 256; ++p) pixels.pixel_transform.values[p] = static_cast<float>(p);
  for (float f : floats.features) pixels.pixels.push_back(static_cast<uint8_t>(f));
  const Standardizer from_floats = Standardizer::Fit(floats);
  const Standardizer from_pixels = Standardizer::Fit(pixels);
  EXPECT_EQ(from_pixels.mean(), from_floats.mean());
  EXPECT_EQ(from_pixels.scale(), from_floats.scale());
  from_floats.Apply(floats);
  from_pixels.Apply(pixels);
  EXPECT_TRUE(pixels.pixels.empty());
  EXPECT_EQ(pixels.features, floats.features);
}

TEST(OneHotTest, RowsFromLabels) {
  Dataset data = Numbered(4);  // labels 0 1 2 0
  ASSERT_TRUE(OneHotTargets(data, 3).ok());
  EXPECT_EQ(data.target_dim, 3);
  EXPECT_EQ(data.targets, (std::vector<float>{1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0}));
  EXPECT_FALSE(OneHotTargets(data, 2).ok());  // label 2 does not fit
}

// --- LoadDataset -------------------------------------------------------------------------

TEST(LoadTabularTest, MakeClassificationSplitStandardizedOneHot) {
  DataSpec spec;
  spec.source = "make_classification";
  spec.params = {{"n_samples", 1000}, {"n_features", 10}, {"n_classes", 3},
                 {"n_informative", 9}, {"n_redundant", 0}};
  spec.test_fraction = 0.1;
  spec.standardize = true;
  spec.one_hot = true;
  spec.seed = 5;
  auto data = LoadDataset(spec);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->train.num_samples, 900);
  EXPECT_EQ(data->test.num_samples, 100);
  EXPECT_EQ(data->train.target_dim, 3);
  EXPECT_EQ(data->test.targets.size(), 300u);
  for (int64_t j = 0; j < 10; ++j) {
    double mean = 0;
    for (int64_t r = 0; r < 900; ++r) mean += data->train.row(r)[j];
    EXPECT_NEAR(mean / 900, 0.0, 1e-4);
  }
  for (int64_t r = 0; r < 100; ++r) {
    EXPECT_EQ(data->test.target_row(r)[data->test.labels[r]], 1.0f);
  }
}

TEST(LoadTabularTest, CsvRegressionAndClassLabels) {
  const fs::path path = WriteText("reg.csv", "a,b,y\n1,2,0.5\n3,4,1.5\n5,6,2.5\n7,8,3.5\n");
  DataSpec spec;
  spec.source = "csv";
  spec.path = path;
  spec.label = "y";
  spec.regression = true;
  spec.test_fraction = 0.25;
  auto data = LoadDataset(spec);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->train.num_samples, 3);
  EXPECT_EQ(data->train.target_dim, 1);
  for (int64_t r = 0; r < 3; ++r) {
    EXPECT_EQ(data->train.targets[r], (data->train.row(r)[0] - 1) / 2 + 0.5f);
  }
  spec.regression = false;
  auto classes = LoadDataset(spec);
  ASSERT_FALSE(classes.ok());
  EXPECT_NE(classes.status().message().find("regression=true"), std::string::npos);
  fs::remove(path);
}

TEST(LoadTabularTest, TensorFiles) {
  const fs::path x = TempPath("tx.kt"), y = TempPath("ty.kt");
  ASSERT_TRUE(
      WriteTensorFile(x, {ElementType::kF32, {4, 2, 1}, {0, 1, 2, 3, 4, 5, 6, 7}, {}}).ok());
  ASSERT_TRUE(WriteTensorFile(y, {ElementType::kI64, {4}, {}, {0, 1, 0, 1}}).ok());
  DataSpec spec;
  spec.source = "tensors";
  spec.path = x;
  spec.labels_path = y;
  spec.test_fraction = 0;
  auto data = LoadDataset(spec);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->train.num_samples, 4);
  EXPECT_EQ(data->train.feature_dim, 2);
  EXPECT_EQ(data->test.num_samples, 0);
  ASSERT_TRUE(WriteTensorFile(y, {ElementType::kI64, {3}, {}, {0, 1, 0}}).ok());
  EXPECT_FALSE(LoadDataset(spec).ok());  // 3 labels for 4 samples
  fs::remove(x);
  fs::remove(y);
}

// A CSV label of 99999999999, or 2 in a 2-class model, used to train silently.
TEST(LoadTabularTest, ClassLabelsOutOfRangeNameTheFileSampleAndLabel) {
  const fs::path csv = WriteText("labels.csv", "a,b,label\n1,2,0\n3,4,1\n5,6,99999999999\n");
  DataSpec spec;
  spec.source = "csv";
  spec.path = csv.string();
  spec.num_classes = 2;
  EXPECT_EQ(LoadDataset(spec).status().message(),
            csv.string() + " column 'label': label 99999999999 of sample 2 is out of range for "
                           "2 classes");
  spec.source = "make_classification";
  spec.params = {{"n_samples", 20}, {"n_classes", 3}, {"n_features", 4}, {"n_informative", 3},
                 {"n_redundant", 0}};
  EXPECT_TRUE(absl::StrContains(LoadDataset(spec).status().message(),
                                "make_classification: label 2 of sample "))
      << LoadDataset(spec).status();
  spec.num_classes = 3;
  EXPECT_TRUE(LoadDataset(spec).ok());
  fs::remove(csv);
}

TEST(LoadTabularTest, OneHotOfRegressionIsAnError) {
  DataSpec spec;
  spec.source = "make_regression";
  spec.params = {{"n_samples", 20}, {"n_features", 3}};
  spec.one_hot = true;
  EXPECT_FALSE(LoadDataset(spec).ok());
  spec.one_hot = false;
  auto data = LoadDataset(spec);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->train.target_dim, 1);
}

}  // namespace
}  // namespace kiln::runtime
