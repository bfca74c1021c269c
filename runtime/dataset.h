// In-memory data sets: features f32 [N, D] (each image flattened) and labels i64 [N], loaded
// once and transformed once, so a training step only gathers rows.
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
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::runtime {

// Where a model's data comes from and how it is preprocessed. Mirrors the model's data section
// without depending on the compiler's types; the tool copies one into the other.
struct DataSpec {
  // "fashion_mnist" or "mnist": IDX files named train-{images-idx3,labels-idx1}-ubyte.gz and
  // t10k-… or test-… for the test split (".gz" optional).
  // Tabular: "csv" (path), "tensors" (path: features file, labels_path: labels file, both in
  // kiln's tensor format, runtime/tensor_file.h), "make_classification", "make_regression".
  std::string source = "fashion_mnist";
  // Directory holding the files. Empty: /usr/share/datasets/fashion-mnist for fashion_mnist;
  // mnist has no default and needs one. csv and tensors: the (features) file.
  std::string path;
  std::string labels_path;             // tensors: the labels file.
  std::vector<std::string> features;   // csv: feature columns; empty = all but the label.
  std::string label;                   // csv: the label column; empty = the last column.
  bool regression = false;             // csv/tensors: labels are real targets, fed as f32.
  // Generator arguments with scikit-learn's names (n_samples, n_features, n_informative, ...);
  // missing ones take scikit-learn's defaults.
  std::map<std::string, double> params;
  // Tabular only: the fraction of samples held out as the test split (ceil, like
  // train_test_split), after a shuffle seeded with `seed`; then StandardScaler-style
  // standardization fit on train, and one-hot f32 targets [N, classes].
  double test_fraction = 0.0;
  bool standardize = false;
  bool one_hot = false;
  uint64_t seed = 0;                   // Generators and the split.
  // Each pixel p becomes (p * scale - mean[c]) / stddev[c]. Empty mean/stddev: no normalization.
  // One entry per channel; MNIST-style images have one channel.
  double scale = 1.0;
  std::vector<double> mean;
  std::vector<double> stddev;
  // Keep only the first N samples of a split.
  std::optional<int64_t> train_limit;
  std::optional<int64_t> test_limit;
  // Whether training batches are drawn in a fresh seeded order each epoch.
  bool shuffle = true;
  // The model's class count (the C of its scores f32[N, C]). When > 0, every class label must
  // be in [0, num_classes) or loading fails naming the file, the sample and the label; an
  // out-of-range label would otherwise index past the scores and train on garbage.
  int64_t num_classes = 0;
};

struct Dataset {
  int64_t num_samples = 0;
  int64_t feature_dim = 0;            // D, the product of sample_shape.
  std::vector<int64_t> sample_shape;  // [rows, cols] for images.
  std::vector<float> features;        // [num_samples, feature_dim], row-major.
  // [num_samples]: class indices; all 0 when the targets are real (regression).
  std::vector<int64_t> labels;
  // f32 targets [num_samples, target_dim] (one-hot classes or regression values), fed when the
  // model's labels input is f32. target_dim 0: none; f32 labels inputs get `labels` converted.
  int64_t target_dim = 0;
  std::vector<float> targets;

  const float* row(int64_t sample) const { return features.data() + sample * feature_dim; }
  const float* target_row(int64_t sample) const { return targets.data() + sample * target_dim; }
};

struct DataSplits {
  Dataset train;
  Dataset test;
};

inline constexpr char kFashionMnistDefaultDir[] = "/usr/share/datasets/fashion-mnist";

// Loads both splits named by `spec`, applying its limits and transform.
absl::StatusOr<DataSplits> LoadDataset(const DataSpec& spec);

// Loads one split from an images file and a labels file (IDX, gzip or raw). `limit` keeps the
// first N samples. The transform is spec's scale/mean/stddev.
absl::StatusOr<Dataset> LoadIdxSplit(const std::string& images_path, const std::string& labels_path,
                                     const DataSpec& spec, std::optional<int64_t> limit);

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_DATASET_H_
