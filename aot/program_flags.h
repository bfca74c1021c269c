// The flags a built program's commands share with `kiln train`, applied to the linked recipe.
#ifndef KILN_AOT_PROGRAM_FLAGS_H_
#define KILN_AOT_PROGRAM_FLAGS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/train_recipe.h"
#include "runtime/trainer.h"
#include "support/command_line.h"

namespace kiln::aot {

// --epochs, --lr, --seed, --data-dir, --train-limit, --test-limit, --init-weights where given;
// --batch-size only as the batch the program was built for (batch sizes are compiled in).
absl::Status ApplyRecipeFlags(const CommandLine& line, runtime::TrainRecipe& recipe);

// --threads (0 or absent: one per core).
absl::StatusOr<int> ThreadsFlag(const CommandLine& line);

}  // namespace kiln::aot

#endif  // KILN_AOT_PROGRAM_FLAGS_H_
