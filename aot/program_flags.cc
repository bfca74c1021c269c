#include "aot/program_flags.h"

#include "absl/strings/str_format.h"
#include "support/status.h"

namespace kiln::aot {

absl::Status ApplyRecipeFlags(const CommandLine& line, runtime::TrainRecipe& recipe) {
  KILN_ASSIGN_OR_RETURN(runtime::RunFlags flags, runtime::RunFlags::Read(line));
  if (flags.batch_size && *flags.batch_size != recipe.batch_size) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--batch-size %d: this program was built for batch size %d (batch sizes are static; "
        "rebuild with kiln build --batch-size %d)",
        *flags.batch_size, recipe.batch_size, *flags.batch_size));
  }
  if (flags.epochs) recipe.epochs = *flags.epochs;
  if (flags.lr) recipe.learning_rate = *flags.lr;
  if (flags.seed) recipe.seed = static_cast<uint64_t>(*flags.seed);
  if (flags.train_limit) recipe.data.train_limit = *flags.train_limit;
  if (flags.test_limit) recipe.data.test_limit = *flags.test_limit;
  if (flags.data_dir) recipe.data.path = *flags.data_dir;
  if (flags.init_weights) recipe.init_weights = *flags.init_weights;
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
