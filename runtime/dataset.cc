#include "runtime/dataset.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <span>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "runtime/idx_reader.h"
#include "support/status.h"

namespace kiln::runtime {
namespace {

// Maps each byte value to its transformed float once, so the per-pixel work is a table lookup
// and every pixel with the same byte gets bit-identical features.
using PixelTable = std::array<float, 256>;

absl::StatusOr<PixelTable> MakePixelTable(const DataSpec& spec, int num_channels) {
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
  PixelTable table;
  for (int byte = 0; byte < 256; ++byte) {
    table[byte] = static_cast<float>((byte * spec.scale - mean) / stddev);
  }
  return table;
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

absl::StatusOr<std::string> DataDirectory(const DataSpec& spec) {
  if (spec.source != "fashion_mnist" && spec.source != "mnist") {
    return absl::InvalidArgumentError(
        absl::StrFormat("unknown data source '%s' (expected fashion_mnist or mnist)", spec.source));
  }
  if (!spec.path.empty()) return spec.path;
  if (spec.source == "fashion_mnist") return std::string(kFashionMnistDefaultDir);
  return absl::InvalidArgumentError(
      "data source 'mnist' needs a path: the directory holding train-images-idx3-ubyte.gz");
}

}  // namespace

absl::StatusOr<Dataset> LoadIdxSplit(const std::string& images_path, const std::string& labels_path,
                                     const DataSpec& spec, std::optional<int64_t> limit) {
  KILN_ASSIGN_OR_RETURN(IdxArray images, ReadIdxImages(images_path));
  KILN_ASSIGN_OR_RETURN(IdxArray labels, ReadIdxLabels(labels_path));
  if (images.dims[0] != labels.dims[0]) {
    return absl::InvalidArgumentError(absl::StrFormat("%s has %d labels but %s has %d images",
                                                      labels_path, labels.dims[0], images_path,
                                                      images.dims[0]));
  }
  if (limit.has_value() && *limit < 0) {
    return absl::InvalidArgumentError(absl::StrFormat("data limit %d is negative", *limit));
  }
  KILN_ASSIGN_OR_RETURN(PixelTable table, MakePixelTable(spec, /*num_channels=*/1));

  Dataset data;
  data.num_samples = limit.has_value() ? std::min(*limit, images.dims[0]) : images.dims[0];
  data.sample_shape.assign(images.dims.begin() + 1, images.dims.end());
  data.feature_dim = 1;
  for (int64_t dim : data.sample_shape) data.feature_dim *= dim;
  data.features.resize(data.num_samples * data.feature_dim);
  for (size_t i = 0; i < data.features.size(); ++i) data.features[i] = table[images.data[i]];
  data.labels.assign(labels.data.begin(), labels.data.begin() + data.num_samples);
  return data;
}

absl::StatusOr<DataSplits> LoadDataset(const DataSpec& spec) {
  KILN_ASSIGN_OR_RETURN(std::string dir, DataDirectory(spec));
  DataSplits splits;
  KILN_ASSIGN_OR_RETURN(splits.train, LoadIdxSplit(FindSplitFile(dir, true, "images-idx3-ubyte"),
                                                   FindSplitFile(dir, true, "labels-idx1-ubyte"),
                                                   spec, spec.train_limit));
  KILN_ASSIGN_OR_RETURN(splits.test, LoadIdxSplit(FindSplitFile(dir, false, "images-idx3-ubyte"),
                                                  FindSplitFile(dir, false, "labels-idx1-ubyte"),
                                                  spec, spec.test_limit));
  return splits;
}

}  // namespace kiln::runtime
