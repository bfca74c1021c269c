// Synthetic tabular data made the way scikit-learn makes it, seeded with kiln's own generator
// (runtime/random.h): the same seed gives the same data on every platform. The algorithms follow
// sklearn.datasets.make_classification / make_regression step by step, so the data is as hard to
// learn as sklearn's; the numbers are not sklearn's (its generator is NumPy's).
//
//   ClassificationParams p;  p.n_samples = 1000; p.n_features = 10; p.seed = 3;
//   KILN_ASSIGN_OR_RETURN(Dataset data, MakeClassification(p));  // features [1000,10], labels
#ifndef KILN_RUNTIME_SYNTHETIC_H_
#define KILN_RUNTIME_SYNTHETIC_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/dataset.h"

namespace kiln::runtime {

// sklearn.datasets.make_classification's arguments and defaults (weights, shift and scale are
// left at their defaults: balanced classes, no shift, no scaling).
struct ClassificationParams {
  int64_t n_samples = 100;
  int64_t n_features = 20;
  int64_t n_informative = 2;
  int64_t n_redundant = 2;
  int64_t n_repeated = 0;
  int64_t n_classes = 2;
  int64_t n_clusters_per_class = 2;
  double flip_y = 0.01;
  double class_sep = 1.0;
  bool hypercube = true;
  bool shuffle = true;
  uint64_t seed = 0;
};

// sklearn.datasets.make_regression's arguments and defaults (one target, full-rank X).
struct RegressionParams {
  int64_t n_samples = 100;
  int64_t n_features = 100;
  int64_t n_informative = 10;
  double bias = 0.0;
  double noise = 0.0;
  bool shuffle = true;
  uint64_t seed = 0;
};

// Gaussian clusters around vertices of a hypercube, several per class, with informative,
// redundant (linear combinations), repeated and useless (noise) features; a fraction flip_y of
// labels reassigned at random. Labels are class indices in `labels`.
absl::StatusOr<Dataset> MakeClassification(const ClassificationParams& params);

// y = X w + bias + noise with standard normal X and n_informative nonzero weights in [0, 100).
// Targets are f32 [n_samples, 1] in `targets`; `labels` are all 0.
absl::StatusOr<Dataset> MakeRegression(const RegressionParams& params);

// The parameters from a data source's named numbers (sklearn's argument names); unknown names
// are an error naming the known ones.
absl::StatusOr<ClassificationParams> ClassificationParamsOf(
    const std::map<std::string, double>& values, uint64_t seed);
absl::StatusOr<RegressionParams> RegressionParamsOf(const std::map<std::string, double>& values,
                                                    uint64_t seed);

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_SYNTHETIC_H_
