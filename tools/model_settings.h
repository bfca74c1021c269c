// `kiln train FILE --set NAME=VALUE ...`: a model file's constants made settable from the command
// line, for hyperparameter search (`kiln tune` passes each trial's values this way). NAME is,
// in this order of lookup:
//   - a top-level constant binding of the model (`hidden = 16`, then `linear(h, hidden)`);
//   - a train section key (`batch_size`, `epochs`, ...);
//   - an optimizer hyperparameter (`lr`, `momentum`, ...: an argument of the train section's
//     `optimizer = adam(lr=...)`; `lr` is added when the call leaves it at its default).
// VALUE is a number, true/false, or a bare name or string. The override replaces the
// expression in the parsed file, so everything downstream (shapes, the checkpoint's model
// fingerprint, the header line) sees the set value as if it had been written there.
#ifndef KILN_TOOLS_MODEL_SETTINGS_H_
#define KILN_TOOLS_MODEL_SETTINGS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "frontend/ast.h"

namespace kiln::tools {

struct ModelSetting {
  std::string name;
  std::string value;
};

// Removes every `--set NAME=VALUE` (or `--set=NAME=VALUE`) from `args` and returns them in
// order; CommandLine keeps one value per flag, and --set repeats.
absl::StatusOr<std::vector<ModelSetting>> TakeModelSettings(std::vector<std::string>& args);

// Applies `settings` to the parsed model; an unknown NAME, or a binding that is not a
// constant, is a one-line error listing what can be set.
absl::Status ApplyModelSettings(const std::vector<ModelSetting>& settings, frontend::ModelAst& ast);

}  // namespace kiln::tools

#endif  // KILN_TOOLS_MODEL_SETTINGS_H_
