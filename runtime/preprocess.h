// Preparing a tabular data set for training: a seeded train/test split, StandardScaler-style
// standardization fit on the train split, and one-hot targets.
//
//   KILN_ASSIGN_OR_RETURN(DataSplits splits, SplitTrainTest(all, /*test_fraction=*/0.1, seed));
//   Standardizer scaler = Standardizer::Fit(splits.train);
//   scaler.Apply(splits.train);  scaler.Apply(splits.test);
//   KILN_RETURN_IF_ERROR(OneHotTargets(splits.train, /*classes=*/3));
#ifndef KILN_RUNTIME_PREPROCESS_H_
#define KILN_RUNTIME_PREPROCESS_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/dataset.h"

namespace kiln::runtime {

// Like sklearn's train_test_split(test_size=test_fraction, shuffle=True): a seeded permutation
// of the samples; the first ceil(test_fraction * N) go to test, the rest to train, each in
// permutation order. test_fraction 0 keeps every sample in train (still shuffled).
absl::StatusOr<DataSplits> SplitTrainTest(const Dataset& data, double test_fraction,
                                          uint64_t seed);

// The rows `samples` of `data`, in that order (features, labels and targets).
Dataset SelectRows(const Dataset& data, const std::vector<int64_t>& samples);

// sklearn's StandardScaler: per feature, x' = (x - mean) / std with the population (ddof=0)
// statistics of the data it was fit on, computed in double. A constant feature gets std 1.
class Standardizer {
 public:
  static Standardizer Fit(const Dataset& data);
  void Apply(Dataset& data) const;

  const std::vector<double>& mean() const { return mean_; }
  const std::vector<double>& scale() const { return scale_; }

 private:
  std::vector<double> mean_;
  std::vector<double> scale_;
};

// Replaces `data`'s targets with one-hot f32 rows [N, classes] built from its class labels.
// A label outside [0, classes) is an error naming the sample.
absl::Status OneHotTargets(Dataset& data, int64_t classes);

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_PREPROCESS_H_
