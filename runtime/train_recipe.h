// A model's training recipe as the runtime runs it: the train section after the compiler has
// read it (optimizer and clipping are already code; what is left is data, epochs, learning
// rate, schedule and seed), plus the settings a checkpoint records. `kiln train` derives one
// from the model file (tools/train_setup.h); an AOT-built program carries one (runtime/
// model_bundle.h). Both turn it into TrainOptions and run settings here, so the two agree.
#ifndef KILN_RUNTIME_TRAIN_RECIPE_H_
#define KILN_RUNTIME_TRAIN_RECIPE_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/data_spec.h"
#include "runtime/executable.h"
#include "runtime/trainer.h"
#include "support/command_line.h"

namespace kiln::runtime {

struct TrainRecipe {
  std::string model_name;
  // Fixed when the model was compiled; recorded in checkpoints (RunSettingsOf).
  std::string model_fingerprint;  // "fnv1a:..." of the model's graph.
  std::string optimizer;          // "adam", for the header line.
  std::string optimizer_setting;  // "adam beta1=0.9 ...": every hyperparameter but lr.
  std::string clipping_setting;   // "value=0 norm=1".
  std::string freeze_setting;     // "[fc1,fc2]".
  int64_t batch_size = 64;
  int64_t eval_batch_size = 0;  // 0: batch_size.
  // What a run's flags may change.
  DataSpec data;
  int64_t epochs = 1;
  double learning_rate = 0.01;
  LrSchedule schedule;
  uint64_t seed = 0;
  int64_t early_stopping_patience = 0;
  bool per_class_accuracy = false;  // metrics = [..., per_class_accuracy]
  // init_weights: the file, the tensors it loads and those it leaves at their initializers.
  std::string init_weights;
  std::vector<std::string> init_load, init_keep;
  // The ranks a built program's steps were compiled for (kiln build --ranks N: the gradient
  // all-reduce, batch_size / N per rank); 1: one process. kiln train sets it from mpirun's world.
  int64_t data_parallel_ranks = 1;
};

// The flags `kiln train` and built programs share that override a recipe's values, read and
// checked once (--epochs and --batch-size at least 1); the callers apply them.
struct RunFlags {
  std::optional<int64_t> epochs, batch_size, seed, train_limit, test_limit;
  std::optional<double> lr;
  std::optional<std::string> data_dir, init_weights;
  static absl::StatusOr<RunFlags> Read(const CommandLine& line);
};

// The trainer's options for `recipe`, before any output files are named; the log is stdout.
TrainOptions TrainOptionsOf(const TrainRecipe& recipe);

// The same with the output flags `kiln train` and built programs share: --metrics-out,
// --checkpoint, --save-best, --per-class.
TrainOptions TrainOptionsOf(const TrainRecipe& recipe, const CommandLine& flags);

// The settings that shape a run's trajectory, as its checkpoints record them and a resume
// compares them: the model, optimizer, learning rate and schedule, batch size, data limits, data
// source, directory and options, gradient clipping and freezing. Not the epochs (a resumed run
// may go on for more), threads or output files.
std::vector<RunSetting> RunSettingsOf(const TrainRecipe& recipe);

// When the recipe has init_weights, loads them into `executable` (the host copy that
// initializes every device) and writes the one-line report to `log`.
absl::Status LoadInitWeights(const TrainRecipe& recipe, Executable& executable, std::ostream& log);

// The closing line: test accuracy (classifiers) and test loss of the last epoch.
std::string FinalSummary(const std::vector<EpochMetrics>& history);

// The text of a number in settings: "%.15g".
std::string SettingNumber(double value);

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_TRAIN_RECIPE_H_
