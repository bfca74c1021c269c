// The predictions of an evaluation step as CSV rows, shared by a built program's `predict` and
// `kiln predict`: one row per sample, the class and its probabilities ("class,p0,...,p9") for a
// classifier, the value(s) ("value" or "value0,...") for a regression model.
//
//   KILN_ASSIGN_OR_RETURN(PredictionRows rows, PredictionRows::Bind(*entry));
//   std::string csv = rows.Header();
//   entry->Run(pool.parallel());
//   for (int64_t row = 0; row < samples_in_batch; ++row) rows.Append(row, csv);
#ifndef KILN_RUNTIME_PREDICTION_ROWS_H_
#define KILN_RUNTIME_PREDICTION_ROWS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/executable.h"

namespace kiln::runtime {

class PredictionRows {
 public:
  // The entry's "probabilities" and "predicted" outputs, or else its "value" output.
  static absl::StatusOr<PredictionRows> Bind(const Entry& entry);

  bool classes() const { return classes_; }
  std::string Header() const;
  // Row `row` of the entry's last run, with its newline, appended to `out`.
  void Append(int64_t row, std::string& out) const;
  // The class row `row` was given (classifiers only).
  int64_t Predicted(int64_t row) const { return predicted_.i64()[row]; }

 private:
  BufferView predicted_, probabilities_, value_;
  bool classes_ = false;
  int64_t columns_ = 0;  // Probabilities or values per sample.
};

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_PREDICTION_ROWS_H_
