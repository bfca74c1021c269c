#include "runtime/preprocess.h"

#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_format.h"
#include "runtime/random.h"

namespace kiln::runtime {
namespace {

constexpr uint64_t kSplitStream = 0x53504c4954ull;  // "SPLIT"

}  // namespace

Dataset SelectRows(const Dataset& data, const std::vector<int64_t>& samples) {
  Dataset out;
  out.num_samples = static_cast<int64_t>(samples.size());
  out.feature_dim = data.feature_dim;
  out.sample_shape = data.sample_shape;
  out.target_dim = data.target_dim;
  out.pixel_transform = data.pixel_transform;
  if (data.pixels.empty()) {
    out.features.resize(out.num_samples * data.feature_dim);
  } else {
    out.pixels.resize(out.num_samples * data.feature_dim);
  }
  out.targets.resize(out.num_samples * data.target_dim);
  out.labels.reserve(samples.size());
  for (int64_t i = 0; i < out.num_samples; ++i) {
    const int64_t s = samples[i];
    if (data.pixels.empty()) {
      std::memcpy(out.features.data() + i * data.feature_dim, data.row(s),
                  data.feature_dim * sizeof(float));
    } else {
      std::memcpy(out.pixels.data() + i * data.feature_dim,
                  data.pixels.data() + s * data.feature_dim, data.feature_dim);
    }
    if (data.target_dim > 0) {
      std::memcpy(out.targets.data() + i * data.target_dim, data.target_row(s),
                  data.target_dim * sizeof(float));
    }
    out.labels.push_back(data.labels[s]);
  }
  return out;
}

absl::StatusOr<DataSplits> SplitTrainTest(const Dataset& data, double test_fraction,
                                          uint64_t seed) {
  if (!(test_fraction >= 0.0 && test_fraction < 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("test_fraction must be in [0, 1), got %g", test_fraction));
  }
  const int64_t n = data.num_samples;
  const auto test_size = static_cast<int64_t>(std::ceil(test_fraction * static_cast<double>(n)));
  if (test_fraction > 0 && test_size >= n) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "test_fraction %g of %d samples leaves none for training", test_fraction, n));
  }
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  Rng rng(DeriveSeed(seed, kSplitStream, 0));
  for (int64_t i = n - 1; i > 0; --i) {
    std::swap(order[i], order[rng.Below(static_cast<uint64_t>(i) + 1)]);
  }
  DataSplits splits;
  splits.test = SelectRows(data, std::vector<int64_t>(order.begin(), order.begin() + test_size));
  splits.train = SelectRows(data, std::vector<int64_t>(order.begin() + test_size, order.end()));
  return splits;
}

Standardizer Standardizer::Fit(const Dataset& data) {
  const int64_t d = data.feature_dim;
  Standardizer scaler;
  scaler.mean_.assign(d, 0.0);
  scaler.scale_.assign(d, 1.0);
  if (data.num_samples == 0) return scaler;
  std::vector<double> sum_sq(d, 0.0);
  std::vector<float> row(d);
  for (int64_t s = 0; s < data.num_samples; ++s) {
    data.CopyFeatures(s, 1, row.data());
    for (int64_t j = 0; j < d; ++j) scaler.mean_[j] += row[j];
  }
  for (double& m : scaler.mean_) m /= static_cast<double>(data.num_samples);
  // Two passes: the centred sum of squares does not cancel the way E[x^2] - E[x]^2 does.
  for (int64_t s = 0; s < data.num_samples; ++s) {
    data.CopyFeatures(s, 1, row.data());
    for (int64_t j = 0; j < d; ++j) {
      const double centred = row[j] - scaler.mean_[j];
      sum_sq[j] += centred * centred;
    }
  }
  for (int64_t j = 0; j < d; ++j) {
    const double stddev = std::sqrt(sum_sq[j] / static_cast<double>(data.num_samples));
    scaler.scale_[j] = stddev > 0 ? stddev : 1.0;  // sklearn's _handle_zeros_in_scale.
  }
  return scaler;
}

void Standardizer::Apply(Dataset& data) const {
  // Standardized values are no transform of the pixels: they are held as f32 features.
  if (!data.pixels.empty()) {
    data.features.resize(data.pixels.size());
    data.CopyFeatures(0, data.num_samples, data.features.data());
    data.pixels = {};
  }
  for (int64_t s = 0; s < data.num_samples; ++s) {
    float* row = data.features.data() + s * data.feature_dim;
    for (int64_t j = 0; j < data.feature_dim; ++j) {
      row[j] = static_cast<float>((row[j] - mean_[j]) / scale_[j]);
    }
  }
}

absl::Status OneHotTargets(Dataset& data, int64_t classes) {
  if (classes < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("one-hot needs classes >= 1, got %d", classes));
  }
  data.target_dim = classes;
  data.targets.assign(data.num_samples * classes, 0.0f);
  for (int64_t s = 0; s < data.num_samples; ++s) {
    const int64_t label = data.labels[s];
    if (label < 0 || label >= classes) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "one-hot: sample %d has label %d, outside [0, %d)", s, label, classes));
    }
    data.targets[s * classes + label] = 1.0f;
  }
  return absl::OkStatus();
}

}  // namespace kiln::runtime
