// In-memory data sets: features f32 [N, D] (each image flattened) and labels i64 [N], loaded
// once and transformed once, so a training step only gathers rows.
//
//   DataSpec spec;                                  // Fashion-MNIST from its Debian package.
//   spec.scale = 1.0 / 255; spec.mean = {0.5}; spec.stddev = {0.5};
//   KILN_ASSIGN_OR_RETURN(DataSplits data, LoadDataset(spec));
#ifndef KILN_RUNTIME_DATASET_H_
#define KILN_RUNTIME_DATASET_H_

#include <cstdint>
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
  std::string source = "fashion_mnist";
  // Directory holding the files. Empty: /usr/share/datasets/fashion-mnist for fashion_mnist;
  // mnist has no default and needs one.
  std::string path;
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
};

struct Dataset {
  int64_t num_samples = 0;
  int64_t feature_dim = 0;            // D, the product of sample_shape.
  std::vector<int64_t> sample_shape;  // [rows, cols] for images.
  std::vector<float> features;        // [num_samples, feature_dim], row-major.
  std::vector<int64_t> labels;        // [num_samples]

  const float* row(int64_t sample) const { return features.data() + sample * feature_dim; }
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
