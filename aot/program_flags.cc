#include "aot/program_flags.h"

#include "absl/strings/str_format.h"
#include "support/status.h"

namespace kiln::aot {

absl::Status ApplyRecipeFlags(const CommandLine& line, runtime::TrainRecipe& recipe) {
  KILN_ASSIGN_OR_RETURN(auto epochs, line.Int("epochs"));
  KILN_ASSIGN_OR_RETURN(auto batch, line.Int("batch-size"));
  KILN_ASSIGN_OR_RETURN(auto lr, line.Double("lr"));
  KILN_ASSIGN_OR_RETURN(auto seed, line.Int("seed"));
  KILN_ASSIGN_OR_RETURN(auto train_limit, line.Int("train-limit"));
  KILN_ASSIGN_OR_RETURN(auto test_limit, line.Int("test-limit"));
  if (batch && *batch != recipe.batch_size) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--batch-size %d: this program was built for batch size %d (batch sizes are static; "
        "rebuild with kiln build --batch-size %d)",
        *batch, recipe.batch_size, *batch));
  }
  if (epochs) recipe.epochs = *epochs;
  if (lr) recipe.learning_rate = *lr;
  if (seed) recipe.seed = static_cast<uint64_t>(*seed);
  if (train_limit) recipe.data.train_limit = *train_limit;
  if (test_limit) recipe.data.test_limit = *test_limit;
  if (auto dir = line.String("data-dir")) recipe.data.path = *dir;
  if (auto weights = line.String("init-weights")) recipe.init_weights = *weights;
  if (recipe.epochs < 1) return absl::InvalidArgumentError("--epochs must be at least 1");
  return absl::OkStatus();
}

absl::StatusOr<int> ThreadsFlag(const CommandLine& line) {
  KILN_ASSIGN_OR_RETURN(auto threads, line.Int("threads"));
  if (threads && (*threads < 0 || *threads > 1024)) {
    return absl::InvalidArgumentError("--threads must be between 0 (one per core) and 1024");
  }
  return static_cast<int>(threads.value_or(0));
}


}  // namespace kiln::aot
