// Where a model's data comes from and how it is prepared: the `data = ...` call of a model file,
// as values. The data-source table (runtime/data_sources.h) says which fields each source reads;
// the initializers here are the defaults the model language documents. Plain values only, so the
// compiler's ir::DataConfig can be this struct plus a source location (no copy field by field).
#ifndef KILN_RUNTIME_DATA_SPEC_H_
#define KILN_RUNTIME_DATA_SPEC_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace kiln::runtime {

struct DataSpec {
  // A name in the data-source table (runtime/data_sources.h): "fashion_mnist", "csv", ...
  std::string source = "fashion_mnist";
  // Image sources: the directory holding the IDX files (empty: the source's default directory).
  // csv: the file; tensors: the features file.
  std::string path;
  std::string labels_path;            // tensors: the labels file.
  std::vector<std::string> features;  // csv: feature columns; empty = all but the label.
  std::string label;                  // csv: the label column; empty = the last column.
  bool regression = false;            // csv/tensors: labels are real targets, fed as f32.
  // Generator arguments with scikit-learn's names (n_samples, n_features, n_informative, ...);
  // missing ones take scikit-learn's defaults.
  std::map<std::string, double> params;
  // Tabular only: the fraction of samples held out as the test split (ceil, like
  // train_test_split), after a shuffle seeded with `seed`; then StandardScaler-style
  // standardization fit on train, and one-hot f32 targets [N, classes].
  double test_fraction = 0.1;
  bool standardize = false;
  bool one_hot = false;
  uint64_t seed = 0;  // Generators and the split.
  // Images: each pixel p becomes (p * scale - mean[c]) / stddev[c]. Empty mean/stddev: no
  // normalization. One entry per channel; MNIST-style images have one channel.
  double scale = 1.0;
  std::vector<double> mean;
  std::vector<double> stddev;
  // Keep only the first N samples of a split; 0 keeps all.
  int64_t train_limit = 0;
  int64_t test_limit = 0;
  // Whether training batches are drawn in a fresh seeded order each epoch.
  bool shuffle = true;
  // The model's class count (the C of its scores f32[N, C]), set by the tool, not the model
  // file. When > 0, every class label must be in [0, num_classes) or loading fails naming the
  // file, the sample and the label; an out-of-range label would otherwise index past the scores
  // and train on garbage.
  int64_t num_classes = 0;
};

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_DATA_SPEC_H_
