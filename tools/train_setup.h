// What `kiln train` derives from the model's train section and the command line, shared by the
// CPU and CUDA training paths: data source, learning-rate schedule, flag overrides, and the static
// batch sizes to compile.
#ifndef KILN_TOOLS_TRAIN_SETUP_H_
#define KILN_TOOLS_TRAIN_SETUP_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "frontend/ast.h"
#include "ir/train_config.h"
#include "runtime/dataset.h"
#include "runtime/executable.h"
#include "runtime/trainer.h"
#include "tools/command_line.h"
#include "tools/compile_pipeline.h"

namespace kiln::tools {

runtime::LrSchedule ScheduleOf(const ir::ScheduleConfig& schedule);

// Applies --epochs, --batch-size, --lr, --seed, --train-limit, --test-limit, --data-dir and
// --init-weights.
absl::Status ApplyOverrides(const CommandLine& line, ir::TrainConfig& train);

// The trainer's options from the train section and the flags (--metrics-out, --checkpoint,
// --per-class); the log goes to stdout.
runtime::TrainOptions TrainOptionsOf(const CommandLine& line, const ir::TrainConfig& train,
                                     const std::string& model_name);

// The settings that shape a run's trajectory, as its checkpoints record them and a resume
// compares them: the model (`model_fingerprint`), optimizer, learning rate and schedule, batch
// size, data limits, data source, directory and options, gradient clipping and freezing. Not
// --epochs (a resumed run may go on for more), --threads or the output files.
std::vector<runtime::RunSetting> RunSettingsOf(const ir::TrainConfig& train,
                                               const std::string& model_fingerprint);

// The closing line: test accuracy (classifiers) and test loss of the last epoch.
std::string FinalSummary(const std::vector<runtime::EpochMetrics>& history);

// The static batch sizes a data set of `samples` needs: full batches and the smaller last one.
void AddBatchSizes(std::vector<EntryRequest>& entries, bool training, int64_t samples,
                   int64_t batch);

// Everything `kiln train` does before a device is involved: parse the model, apply the flags,
// report model errors before loading data, load the data, and compile every entry point its
// batch sizes need.
struct PreparedTraining {
  frontend::ModelAst ast;
  ir::TrainConfig train;
  runtime::DataSplits data;
  CompiledModel compiled;
  CompileOptions options;  // What `compiled` was compiled with (its entry points).
  std::chrono::steady_clock::time_point compile_start;  // When compilation began.
  // The model's parameters and running statistics (not optimizer state) that init_weights
  // loads, and those init_exclude keeps at their initializers; both empty without init_weights.
  std::vector<std::string> init_load, init_keep;
  // What shapes the run's trajectory (RunSettingsOf), recorded in its checkpoints.
  std::vector<runtime::RunSetting> settings;
};
absl::StatusOr<PreparedTraining> PrepareTraining(const CommandLine& line);

// TrainOptions::unfused_program for `prepared`: on first call, compiles the same entry points
// with one op per kernel, JIT-compiles them (seconds for a large model; only a run that has
// gone non-finite pays it) and keeps the executable for later calls.
std::function<absl::StatusOr<runtime::Executable*>()> UnfusedProgram(
    const PreparedTraining& prepared);

// When the run has init_weights, loads them into `executable` (the host copy that initializes
// every device) and writes the one-line report to `log`.
absl::Status LoadInitWeights(const PreparedTraining& prepared, runtime::Executable& executable,
                             std::ostream& log);

}  // namespace kiln::tools

#endif  // KILN_TOOLS_TRAIN_SETUP_H_
