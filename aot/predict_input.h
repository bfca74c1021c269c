// The samples `PROGRAM predict --input F` reads, prepared as the model's data source prepares
// its features: an IDX images file (gzip or raw; the source's scale and normalize applied), a
// CSV file with the training table's columns (its label column is read but not used), or a
// kiln tensor file f32/i64 [N, ...].
#ifndef KILN_AOT_PREDICT_INPUT_H_
#define KILN_AOT_PREDICT_INPUT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/data_spec.h"
#include "runtime/dataset.h"

namespace kiln::aot {

// Errors name the file: an unknown format, or samples of another size than `feature_dim`
// ("p.kt: samples of 100 values, the model takes 784").
absl::StatusOr<runtime::Dataset> ReadPredictInput(const std::string& path,
                                                  const runtime::DataSpec& spec,
                                                  int64_t feature_dim);

}  // namespace kiln::aot

#endif  // KILN_AOT_PREDICT_INPUT_H_
