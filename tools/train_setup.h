// What `kiln train` derives from the model's train section and the command line, shared by the
// CPU and CUDA training paths: data source, learning-rate schedule, flag overrides, and the static
// batch sizes to compile.
#ifndef KILN_TOOLS_TRAIN_SETUP_H_
#define KILN_TOOLS_TRAIN_SETUP_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "frontend/ast.h"
#include "ir/train_config.h"
#include "runtime/dataset.h"
#include "runtime/executable.h"
#include "runtime/train_recipe.h"
#include "runtime/trainer.h"
#include "support/command_line.h"
#include "tools/compile_pipeline.h"
#include "tools/model_settings.h"

namespace kiln::tools {

// Applies --epochs, --batch-size, --lr, --seed, --train-limit, --test-limit, --data-dir and
// --init-weights.
absl::Status ApplyOverrides(const CommandLine& line, ir::TrainConfig& train);

// The runtime's recipe (runtime/train_recipe.h) of a train section: what the trainer and the
// checkpoints need once the model is compiled. `model_fingerprint` is ModelFingerprint's.
runtime::TrainRecipe RecipeOf(const ir::TrainConfig& train, const std::string& model_name,
                              const std::string& model_fingerprint);

// The static batch sizes a data set of `samples` needs: full batches and the smaller last one
// (each entry once).
void AddBatchSizes(std::vector<EntryRequest>& entries, bool training, int64_t samples,
                   int64_t batch);

// Everything `kiln train` (and `kiln build`, `command`) does before a device is involved: parse
// the model, apply the flags, report model errors before loading data, load the data, and
// compile every entry point its batch sizes need (--batch-size, --eval-batch-size).
struct PreparedTraining {
  frontend::ModelAst ast;
  ir::TrainConfig train;
  runtime::DataSplits data;
  CompiledModel compiled;
  CompileOptions options;  // What `compiled` was compiled with (its entry points).
  std::chrono::steady_clock::time_point compile_start;  // When compilation began.
  // The recipe the trainer runs (with init_load/init_keep: the tensors init_weights loads and
  // those init_exclude keeps at their initializers) and its checkpoints record.
  runtime::TrainRecipe recipe;
};
// Which ranks' entry points to compile: one process (world 1), one rank of a data-parallel world
// (kiln train under mpirun), or every rank of it (kiln build --ranks N: one program for all).
struct RankPlan {
  int world = 1;
  std::optional<int> rank;  // nullopt: every rank of `world`.
};

// `settings` (--set) are applied to the model as it is parsed, before anything reads it. With a
// world of several ranks the step gets the gradient all-reduce and the entry points are the
// ranks': a share of each epoch at batch_size / world, and a shard of the test set
// (runtime/data_parallel.h).
absl::StatusOr<PreparedTraining> PrepareTraining(const CommandLine& line,
                                                 const std::string& command = "train",
                                                 const std::vector<ModelSetting>& settings = {},
                                                 const RankPlan& ranks = {});

// TrainOptions::unfused_program for `prepared`: on first call, compiles the same entry points
// with one op per kernel, JIT-compiles them (seconds for a large model; only a run that has
// gone non-finite pays it) and keeps the executable for later calls.
std::function<absl::StatusOr<runtime::Executable*>()> UnfusedProgram(
    const PreparedTraining& prepared);


}  // namespace kiln::tools

#endif  // KILN_TOOLS_TRAIN_SETUP_H_
