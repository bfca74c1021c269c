// `PROGRAM info` and `PROGRAM --help`: what the program was built from and for.
#include <algorithm>
#include <iostream>
#include <memory>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "aot/linked_model.h"
#include "aot/program_commands.h"
#include "support/command_line.h"
#include "support/status.h"

namespace kiln::aot {

absl::Status InfoProgram(const std::vector<std::string>& args) {
  KILN_ASSIGN_OR_RETURN(CommandLine line, CommandLine::Parse(args, {}, {}));
  if (!line.positional().empty()) return absl::InvalidArgumentError("usage: info");
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<LinkedModel> model, LinkedModel::Load());
  const runtime::ModelBundle& bundle = model->bundle();
  const runtime::TrainRecipe& recipe = bundle.recipe;
  int64_t arena = 0;
  for (const runtime::EntrySpec& entry : bundle.program.entries) {
    arena = std::max(arena, entry.arena_bytes);
  }
  int64_t persistent_bytes = 0;
  for (const runtime::PersistentSpec& tensor : bundle.program.persistent) {
    persistent_bytes += runtime::NumElements(tensor.shape) *
                        (tensor.type == runtime::ElementType::kF32 ? 4 : 8);
  }
  // The features the code may use, not the ones the target lacks.
  std::vector<std::string> features;
  for (absl::string_view feature : absl::StrSplit(bundle.target_features, ',')) {
    if (absl::ConsumePrefix(&feature, "+")) features.emplace_back(feature);
  }
  std::sort(features.begin(), features.end());
  std::cout << absl::StrFormat(
      "model          %s\n"
      "graph hash     %s\n"
      "target cpu     %s\n"
      "cpu features   %s\n"
      "train batches  %s\n"
      "eval batches   %s\n"
      "parameters     %d (%d persistent tensors, %d bytes with optimizer state)\n"
      "arena bytes    %d (the largest entry point's)\n"
      "recipe         %s lr %g, %d epochs, seed %d, data %s\n"
      "kiln version   %s\n",
      recipe.model_name, recipe.model_fingerprint, bundle.target_cpu,
      features.empty() ? "(the CPU's defaults)" : absl::StrJoin(features, " "),
      absl::StrJoin(model->BatchSizes(true), ", "), absl::StrJoin(model->BatchSizes(false), ", "),
      model->ParameterCount(), bundle.program.persistent.size(), persistent_bytes, arena,
      recipe.optimizer, recipe.learning_rate, recipe.epochs, recipe.seed, recipe.data.source,
      bundle.kiln_version);
  return absl::OkStatus();
}

std::string ProgramHelp(const std::string& program) {
  return absl::StrFormat(
      "usage: %1$s COMMAND [options]\n"
      "\n"
      "A model's training step, evaluation and optimizer compiled ahead of time by `kiln build`;\n"
      "no compiler inside. Output lines, metrics JSON and checkpoints are kiln train's.\n"
      "\n"
      "  %1$s train [--epochs N] [--lr X] [--seed S] [--metrics-out F]\n"
      "        [--checkpoint F [--resume]] [--save-best F] [--init-weights F] [--data-dir D]\n"
      "        [--train-limit N] [--test-limit N] [--threads N] [--per-class]\n"
      "      Train on the data source the model file names, as `kiln train` does.\n"
      "  %1$s eval --weights F [--data-dir D] [--test-limit N] [--threads N] [--per-class]\n"
      "      Test loss and accuracy of a checkpoint of this model.\n"
      "  %1$s predict --weights F --input F --output F.csv [--threads N]\n"
      "      One CSV row per sample: the class and its probabilities, or the regression value.\n"
      "      Input: IDX images (.gz or raw), a CSV file with the training table's columns, or\n"
      "      a kiln tensor file.\n"
      "  %1$s info\n"
      "      Model, target CPU and features, batch sizes, parameter count, arena bytes, graph\n"
      "      hash, kiln version.\n"
      "\n"
      "Batch sizes are compiled in: a run that needs another batch size says so and how to\n"
      "rebuild. Errors are one line on stderr and exit status 1.\n",
      program);
}

}  // namespace kiln::aot
