// In-memory data sets: features f32 [N, D] (each image flattened; images as their 8-bit pixels
// where the batcher decodes them exactly) and labels i64 [N], loaded once and transformed once,
// so a training step only gathers rows.
//
//   DataSpec spec;                                  // Fashion-MNIST from its Debian package.
//   spec.scale = 1.0 / 255; spec.mean = {0.5}; spec.stddev = {0.5};
//   KILN_ASSIGN_OR_RETURN(DataSplits data, LoadDataset(spec));
//
// Tabular sources (csv, tensors, make_classification, make_regression) give one table that is
// split into train/test with a seeded shuffle (test_fraction), optionally standardized with
// statistics of the train split, and optionally turned into one-hot f32 targets:
//
//   DataSpec spec;
//   spec.source = "make_classification";
//   spec.params = {{"n_samples", 1000}, {"n_features", 10}};
//   spec.test_fraction = 0.1; spec.standardize = true; spec.seed = 7;
#ifndef KILN_RUNTIME_DATASET_H_
#define KILN_RUNTIME_DATASET_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/data_spec.h"
#include "runtime/pixel_decoder.h"

namespace kiln::runtime {

struct Dataset {
  int64_t num_samples = 0;
  int64_t feature_dim = 0;            // D, the product of sample_shape.
  std::vector<int64_t> sample_shape;  // [rows, cols] for images.
  // The samples, [num_samples, feature_dim] row-major, in one of two forms: f32 features, or,
  // for images whose transform the batcher decodes exactly (runtime/pixel_decoder.h), their 8-bit
  // pixels and that transform (feature = pixel_transform.values[pixel]), a quarter of the bytes
  // in memory and in every shuffled batch. The other vector is empty. CopyFeatures reads either.
  std::vector<float> features;
  std::vector<uint8_t> pixels;
  PixelTransform pixel_transform;
  // [num_samples]: class indices; all 0 when the targets are real (regression).
  std::vector<int64_t> labels;
  // f32 targets [num_samples, target_dim] (one-hot classes or regression values), fed when the
  // model's labels input is f32. target_dim 0: none; f32 labels inputs get `labels` converted.
  int64_t target_dim = 0;
  std::vector<float> targets;
  // Classes, when the source knows them (make_classification's n_classes); 0: one more than the
  // largest label.
  int64_t num_classes = 0;

  // Rows [first, first + count) as f32 features into `out`.
  void CopyFeatures(int64_t first, int64_t count, float* out) const;
  // Sample `sample`'s features, where the data set holds f32 features (not pixels).
  const float* row(int64_t sample) const { return features.data() + sample * feature_dim; }
  const float* target_row(int64_t sample) const { return targets.data() + sample * target_dim; }
};

struct DataSplits {
  Dataset train;
  Dataset test;
};

inline constexpr char kFashionMnistDefaultDir[] = "/usr/share/datasets/fashion-mnist";

// Loads both splits named by `spec` with its source's loader (runtime/data_sources.h), applying
// its limits and transform.
absl::StatusOr<DataSplits> LoadDataset(const DataSpec& spec);

// Loads one split from an images file and a labels file (IDX, gzip or raw). `limit` keeps the
// first N samples. The transform is spec's scale/mean/stddev.
absl::StatusOr<Dataset> LoadIdxSplit(const std::string& images_path, const std::string& labels_path,
                                     const DataSpec& spec, std::optional<int64_t> limit);

// Loads an IDX images file alone (samples to predict): spec's transform, labels all 0.
absl::StatusOr<Dataset> LoadIdxImages(const std::string& images_path, const DataSpec& spec,
                                      std::optional<int64_t> limit = std::nullopt);

// The loaders the data-source records name (runtime/data_sources.cc).
struct DataSource;
// Image sources: the four IDX files in spec.path, or in the source's default directory.
absl::StatusOr<DataSplits> LoadImageDirectory(const DataSource& source, const DataSpec& spec);
// Table sources: the one table, before SplitTable.
absl::StatusOr<Dataset> ReadCsvTable(const DataSpec& spec);
absl::StatusOr<Dataset> ReadTensorTable(const DataSpec& spec);
absl::StatusOr<Dataset> MakeClassificationTable(const DataSpec& spec);
absl::StatusOr<Dataset> MakeRegressionTable(const DataSpec& spec);
// Splits one table into train and test as `spec` says: test_fraction, limits, standardize,
// one_hot.
absl::StatusOr<DataSplits> SplitTable(Dataset table, const DataSpec& spec);

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_DATASET_H_
