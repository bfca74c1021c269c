#include "runtime/prediction_rows.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/trainer.h"
#include "support/status.h"

namespace kiln::runtime {

absl::StatusOr<PredictionRows> PredictionRows::Bind(const Entry& entry) {
  PredictionRows rows;
  const int64_t batch = entry.batch_size();
  if (auto probabilities = entry.Output(kProbabilitiesOutput); probabilities.ok()) {
    KILN_ASSIGN_OR_RETURN(rows.predicted_, entry.Output(kPredictedOutput));
    rows.probabilities_ = *probabilities;
    rows.classes_ = true;
    rows.columns_ = probabilities->num_elements() / batch;
    return rows;
  }
  KILN_ASSIGN_OR_RETURN(rows.value_, entry.Output(kValueOutput));
  rows.columns_ = rows.value_.num_elements() / batch;
  return rows;
}

std::string PredictionRows::Header() const {
  std::string header = classes_ ? "class" : "";
  for (int64_t c = 0; c < columns_; ++c) {
    if (!header.empty()) header += ",";
    absl::StrAppend(&header, classes_ ? "p" : "value",
                    columns_ == 1 && !classes_ ? "" : absl::StrCat(c));
  }
  return header + "\n";
}

void PredictionRows::Append(int64_t row, std::string& out) const {
  const float* values = classes_ ? probabilities_.f32() : value_.f32();
  std::string line = classes_ ? absl::StrCat(predicted_.i64()[row]) : "";
  for (int64_t c = 0; c < columns_; ++c) {
    if (!line.empty()) line += ",";
    absl::StrAppend(&line, absl::StrFormat("%.9g", values[row * columns_ + c]));
  }
  out += line + "\n";
}

}  // namespace kiln::runtime
