#include "runtime/dataset.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <span>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "runtime/data_sources.h"
#include "runtime/csv_reader.h"
#include "runtime/huge_pages.h"
#include "runtime/idx_reader.h"
#include "runtime/preprocess.h"
#include "runtime/synthetic.h"
#include "runtime/tensor.h"
#include "runtime/tensor_file.h"
#include "support/status.h"

namespace kiln::runtime {
namespace {

// Maps each byte value to its transformed float once, so the per-pixel work is a table lookup
// and every pixel with the same byte gets bit-identical features.
absl::StatusOr<PixelTransform> MakePixelTransform(const DataSpec& spec, int num_channels) {
  if (spec.mean.size() != spec.stddev.size()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("data transform: mean has %d entries but std has %d", spec.mean.size(),
                        spec.stddev.size()));
  }
  if (!spec.mean.empty() && spec.mean.size() != static_cast<size_t>(num_channels)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("data transform: mean/std have %d entries but %s images have %d channel",
                        spec.mean.size(), spec.source, num_channels));
  }
  const double mean = spec.mean.empty() ? 0.0 : spec.mean[0];
  const double stddev = spec.stddev.empty() ? 1.0 : spec.stddev[0];
  if (stddev == 0.0) return absl::InvalidArgumentError("data transform: std must not be 0");
  PixelTransform transform;
  transform.slope = spec.scale / stddev;
  transform.intercept = -mean / stddev;
  for (int byte = 0; byte < 256; ++byte) {
    transform.values[byte] = static_cast<float>((byte * spec.scale - mean) / stddev);
  }
  return transform;
}

// The first of `names` that exists in `dir`, else the first (so the read reports it missing).
std::string FindFile(const std::string& dir, std::span<const std::string> names) {
  for (const std::string& name : names) {
    const std::filesystem::path candidate = std::filesystem::path(dir) / name;
    std::error_code error;
    if (std::filesystem::exists(candidate, error)) return candidate.string();
  }
  return (std::filesystem::path(dir) / names.front()).string();
}

std::string FindSplitFile(const std::string& dir, bool train, const std::string& kind) {
  const std::vector<std::string> prefixes =
      train ? std::vector<std::string>{"train-"} : std::vector<std::string>{"t10k-", "test-"};
  std::vector<std::string> names;
  for (const std::string& prefix : prefixes) {
    names.push_back(prefix + kind + ".gz");
    names.push_back(prefix + kind);
  }
  return FindFile(dir, names);
}

// spec.path, else the source's default directory.
absl::StatusOr<std::string> DataDirectory(const DataSource& source, const DataSpec& spec) {
  if (!spec.path.empty()) return spec.path;
  if (!source.default_dir.empty()) return std::string(source.default_dir);
  return absl::InvalidArgumentError(absl::StrFormat(
      "data source '%s' needs a path: the directory holding train-images-idx3-ubyte.gz",
      spec.source));
}

// Each of the first `count` labels is a class of a model with `num_classes` classes (0: not
// checked). `source` names the file in the message.
template <typename Label>
absl::Status CheckClassLabels(const std::vector<Label>& labels, int64_t count, int64_t num_classes,
                              const std::string& source) {
  if (num_classes <= 0) return absl::OkStatus();
  for (int64_t i = 0; i < count; ++i) {
    const int64_t label = static_cast<int64_t>(labels[i]);
    if (label >= 0 && label < num_classes) continue;
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: label %d of sample %d is out of range for %d classes", source,
                        label, i, num_classes));
  }
  return absl::OkStatus();
}

// Labels read as numbers become class indices, or with `regression` f32 targets [N, 1].
absl::Status SetLabels(const std::vector<double>& values, bool regression, int64_t num_classes,
                       const std::string& what, Dataset& data) {
  data.labels.assign(values.size(), 0);
  if (regression) {
    data.target_dim = 1;
    data.targets.assign(values.begin(), values.end());
    return absl::OkStatus();
  }
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i] < 0 || values[i] != std::floor(values[i]) || values[i] > 1e15) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: label %g of sample %d is not a class index (a whole number >= 0); for real "
          "targets say regression=true",
          what, values[i], i));
    }
    data.labels[i] = static_cast<int64_t>(values[i]);
  }
  return CheckClassLabels(data.labels, data.num_samples, num_classes, what);
}

}  // namespace

absl::StatusOr<Dataset> ReadCsvTable(const DataSpec& spec) {
  KILN_ASSIGN_OR_RETURN(CsvTable table, ReadCsv(spec.path, spec.features, spec.label));
  Dataset data;
  data.num_samples = table.rows;
  data.feature_dim = static_cast<int64_t>(table.feature_names.size());
  data.sample_shape = {data.feature_dim};
  data.features = std::move(table.features);
  KILN_RETURN_IF_ERROR(SetLabels(table.label, spec.regression, spec.num_classes,
                                 absl::StrFormat("%s column '%s'", spec.path, table.label_name),
                                 data));
  return data;
}

absl::StatusOr<Dataset> ReadTensorTable(const DataSpec& spec) {
  if (spec.labels_path.empty()) {
    return absl::InvalidArgumentError("data source 'tensors' needs labels=\"file\"");
  }
  KILN_ASSIGN_OR_RETURN(HostTensor features, ReadTensorFile(spec.path));
  KILN_ASSIGN_OR_RETURN(HostTensor labels, ReadTensorFile(spec.labels_path));
  if (features.type != ElementType::kF32 || features.shape.empty()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: features must be f32 [N, ...], got %s", spec.path,
        TypeString(features.type, features.shape)));
  }
  const int64_t n = features.shape[0];
  if (labels.shape.empty() || labels.shape[0] != n || labels.shape.size() > 2 ||
      (labels.type == ElementType::kI64 && labels.shape.size() != 1)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: labels must be i64 [%d] or f32 [%d] / [%d, K], got %s", spec.labels_path, n, n, n,
        TypeString(labels.type, labels.shape)));
  }
  Dataset data;
  data.num_samples = n;
  data.sample_shape.assign(features.shape.begin() + 1, features.shape.end());
  data.feature_dim = 1;
  for (int64_t dim : data.sample_shape) data.feature_dim *= dim;
  data.features = std::move(features.f32);
  if (labels.type == ElementType::kI64) {
    const std::vector<double> values(labels.i64.begin(), labels.i64.end());
    KILN_RETURN_IF_ERROR(
        SetLabels(values, spec.regression, spec.num_classes, spec.labels_path, data));
    return data;
  }
  // f32 labels are real targets (regression, or probabilities), fed as they are.
  data.labels.assign(n, 0);
  data.target_dim = labels.shape.size() == 2 ? labels.shape[1] : 1;
  data.targets = std::move(labels.f32);
  return data;
}

absl::StatusOr<Dataset> MakeClassificationTable(const DataSpec& spec) {
  KILN_ASSIGN_OR_RETURN(ClassificationParams params,
                        ClassificationParamsOf(spec.params, spec.seed));
  KILN_ASSIGN_OR_RETURN(Dataset data, MakeClassification(params));
  data.num_classes = params.n_classes;
  KILN_RETURN_IF_ERROR(
      CheckClassLabels(data.labels, data.num_samples, spec.num_classes, spec.source));
  return data;
}

absl::StatusOr<Dataset> MakeRegressionTable(const DataSpec& spec) {
  KILN_ASSIGN_OR_RETURN(RegressionParams params, RegressionParamsOf(spec.params, spec.seed));
  return MakeRegression(params);
}

namespace {

// Classes for one-hot targets: the source's count when it knows it, else the largest label + 1.
int64_t NumClasses(const Dataset& data) {
  if (data.num_classes > 0) return data.num_classes;
  int64_t classes = 0;
  for (int64_t label : data.labels) classes = std::max(classes, label + 1);
  return classes;
}

// Keeps the first `limit` samples; 0 keeps all.
void Limit(Dataset& data, int64_t limit) {
  if (limit <= 0 || limit >= data.num_samples) return;
  data.num_samples = limit;
  if (!data.features.empty()) data.features.resize(data.num_samples * data.feature_dim);
  if (!data.pixels.empty()) data.pixels.resize(data.num_samples * data.feature_dim);
  data.labels.resize(data.num_samples);
  data.targets.resize(data.num_samples * data.target_dim);
}

}  // namespace

absl::StatusOr<DataSplits> SplitTable(Dataset table, const DataSpec& spec) {
  if (spec.one_hot && table.target_dim > 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "data source '%s': one_hot needs class labels, but its targets are real values",
        spec.source));
  }
  const int64_t classes = NumClasses(table);
  KILN_ASSIGN_OR_RETURN(DataSplits splits, SplitTrainTest(table, spec.test_fraction, spec.seed));
  Limit(splits.train, spec.train_limit);
  Limit(splits.test, spec.test_limit);
  if (spec.standardize) {
    const Standardizer scaler = Standardizer::Fit(splits.train);
    scaler.Apply(splits.train);
    scaler.Apply(splits.test);
  }
  if (spec.one_hot) {
    KILN_RETURN_IF_ERROR(OneHotTargets(splits.train, classes));
    KILN_RETURN_IF_ERROR(OneHotTargets(splits.test, classes));
  }
  return splits;
}

namespace {
// The first `limit` images of `images` (all without one), spec's transform applied; labels 0.
absl::StatusOr<Dataset> ImagesToDataset(const IdxArray& images, const DataSpec& spec,
                                        std::optional<int64_t> limit) {
  if (limit.has_value() && *limit < 0) {
    return absl::InvalidArgumentError(absl::StrFormat("data limit %d is negative", *limit));
  }
  Dataset data;
  KILN_ASSIGN_OR_RETURN(data.pixel_transform, MakePixelTransform(spec, /*num_channels=*/1));
  data.num_samples = limit.has_value() ? std::min(*limit, images.dims[0]) : images.dims[0];
  data.sample_shape.assign(images.dims.begin() + 1, images.dims.end());
  data.feature_dim = 1;
  for (int64_t dim : data.sample_shape) data.feature_dim *= dim;
  // The shuffled batches gather rows from all over the data set (Fashion-MNIST's train split:
  // 47 MB of pixels, 188 MB as f32).
  const int64_t values = data.num_samples * data.feature_dim;
  if (PixelDecoder::Create(data.pixel_transform).has_value()) {
    ResizeOnHugePages(data.pixels, values);
    std::copy(images.data.begin(), images.data.begin() + values, data.pixels.begin());
  } else {
    ResizeOnHugePages(data.features, values);
    for (int64_t i = 0; i < values; ++i) {
      data.features[i] = data.pixel_transform.values[images.data[i]];
    }
  }
  data.labels.assign(data.num_samples, 0);
  return data;
}
}  // namespace

absl::StatusOr<Dataset> LoadIdxImages(const std::string& images_path, const DataSpec& spec,
                                      std::optional<int64_t> limit) {
  KILN_ASSIGN_OR_RETURN(IdxArray images, ReadIdxImages(images_path));
  return ImagesToDataset(images, spec, limit);
}

absl::StatusOr<Dataset> LoadIdxSplit(const std::string& images_path, const std::string& labels_path,
                                     const DataSpec& spec, std::optional<int64_t> limit) {
  KILN_ASSIGN_OR_RETURN(IdxArray images, ReadIdxImages(images_path));
  KILN_ASSIGN_OR_RETURN(IdxArray labels, ReadIdxLabels(labels_path));
  if (images.dims[0] != labels.dims[0]) {
    return absl::InvalidArgumentError(absl::StrFormat("%s has %d labels but %s has %d images",
                                                      labels_path, labels.dims[0], images_path,
                                                      images.dims[0]));
  }
  KILN_ASSIGN_OR_RETURN(Dataset data, ImagesToDataset(images, spec, limit));
  KILN_RETURN_IF_ERROR(
      CheckClassLabels(labels.data, data.num_samples, spec.num_classes, labels_path));
  data.labels.assign(labels.data.begin(), labels.data.begin() + data.num_samples);
  return data;
}

namespace {
// The limit LoadIdxSplit takes: none for 0 (all samples).
std::optional<int64_t> IdxLimit(int64_t limit) {
  return limit > 0 ? std::optional<int64_t>(limit) : std::nullopt;
}
}  // namespace

absl::StatusOr<DataSplits> LoadImageDirectory(const DataSource& source, const DataSpec& spec) {
  KILN_ASSIGN_OR_RETURN(std::string dir, DataDirectory(source, spec));
  DataSplits splits;
  KILN_ASSIGN_OR_RETURN(splits.train, LoadIdxSplit(FindSplitFile(dir, true, "images-idx3-ubyte"),
                                                   FindSplitFile(dir, true, "labels-idx1-ubyte"),
                                                   spec, IdxLimit(spec.train_limit)));
  KILN_ASSIGN_OR_RETURN(splits.test, LoadIdxSplit(FindSplitFile(dir, false, "images-idx3-ubyte"),
                                                  FindSplitFile(dir, false, "labels-idx1-ubyte"),
                                                  spec, IdxLimit(spec.test_limit)));
  return splits;
}

void Dataset::CopyFeatures(int64_t first, int64_t count, float* out) const {
  const int64_t values = count * feature_dim;
  if (pixels.empty()) {
    std::copy_n(features.data() + first * feature_dim, values, out);
    return;
  }
  const uint8_t* from = pixels.data() + first * feature_dim;
  for (int64_t i = 0; i < values; ++i) out[i] = pixel_transform.values[from[i]];
}

absl::StatusOr<DataSplits> LoadDataset(const DataSpec& spec) {
  const DataSource* source = FindDataSource(spec.source);
  if (source == nullptr) {
    std::vector<std::string> names = DataSourceNames();
    const std::string last = names.back();
    names.pop_back();
    return absl::InvalidArgumentError(
        absl::StrFormat("unknown data source '%s' (expected %s or %s)", spec.source,
                        absl::StrJoin(names, ", "), last));
  }
  return source->load(*source, spec);
}

}  // namespace kiln::runtime
