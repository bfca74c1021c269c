#include "aot/linked_model.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "runtime/checkpoint.h"
#include "runtime/tensor.h"
#include "support/status.h"

namespace kiln::aot {

absl::StatusOr<std::unique_ptr<LinkedModel>> LinkedModel::Load() {
  KILN_ASSIGN_OR_RETURN(runtime::ModelBundle bundle, runtime::DecodeBundle(runtime::LinkedBundle()));
  return std::unique_ptr<LinkedModel>(new LinkedModel(std::move(bundle)));
}

absl::StatusOr<std::unique_ptr<runtime::Executable>> LinkedModel::Instantiate(uint64_t seed) {
  return runtime::Executable::Create(bundle_.program, library_, seed);
}

std::vector<int64_t> LinkedModel::BatchSizes(bool training) const {
  std::set<int64_t> sizes;
  for (const runtime::EntrySpec& entry : bundle_.program.entries) {
    if (entry.training == training) sizes.insert(entry.batch_size);
  }
  return {sizes.begin(), sizes.end()};
}

absl::Status LinkedModel::CheckBatches(bool training, int64_t samples, int64_t batch) const {
  if (samples <= 0) return absl::OkStatus();
  const std::vector<int64_t> sizes = BatchSizes(training);
  for (int64_t needed : {std::min(batch, samples), samples % batch}) {
    if (needed == 0 || std::find(sizes.begin(), sizes.end(), needed) != sizes.end()) continue;
    const char* what = training ? "training" : "evaluation";
    return absl::InvalidArgumentError(absl::StrFormat(
        "this program was built with %s steps for batches of %s samples; %d %s samples need "
        "one of %d (batch sizes are static: rebuild with kiln build %s to match this data)",
        what, absl::StrJoin(sizes, ", "), samples, training ? "training" : "test", needed,
        training ? "--train-limit N" : "--test-limit N"));
  }
  return absl::OkStatus();
}

int64_t LinkedModel::ParameterCount() const {
  int64_t count = 0;
  for (const runtime::PersistentSpec& tensor : bundle_.program.persistent) {
    if (tensor.trainable) count += runtime::NumElements(tensor.shape);
  }
  return count;
}


}  // namespace kiln::aot
