// `kiln train FILE`: compile the model for its batch sizes, JIT it, and run the training loop.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "frontend/frontend.h"
#include "runtime/checkpoint.h"
#include "runtime/dataset.h"
#include "runtime/executable.h"
#include "runtime/trainer.h"
#include "support/status.h"
#include "tools/backend_registry.h"
#include "tools/command_line.h"
#include "tools/commands.h"
#include "tools/compile_pipeline.h"
#include "tools/train_setup.h"
#include "tools/train_tensorboard.h"

namespace kiln::tools {
namespace {

// The value of setting `name` in `settings`, or "(none)".
std::string SettingValue(const std::vector<runtime::RunSetting>& settings,
                         const std::string& name) {
  for (const runtime::RunSetting& setting : settings) {
    if (setting.name == name) return setting.value;
  }
  return "(none)";
}

// A resumed run continues the saved trajectory only with the settings that shaped it (the
// model, optimizer, learning rate, batch size, data and its limits: tools/train_setup.h,
// RunSettingsOf); any change is refused, naming the setting. Version 1 checkpoints recorded
// none, so their resumes go ahead unchecked, with a note.
absl::Status CheckSameSettings(const runtime::Checkpoint& checkpoint,
                               const runtime::TrainOptions& run) {
  const std::string& path = checkpoint.path;
  if (checkpoint.version < 2) {
    std::cout << absl::StrFormat(
        "kiln: %s was written by an older kiln; settings not recorded, so a changed --lr, "
        "--batch-size, limit, data or model cannot be detected\n",
        path);
    return absl::OkStatus();
  }
  const std::vector<runtime::RunSetting>& saved = checkpoint.state.settings;
  for (const std::vector<runtime::RunSetting>* list : {&saved, &run.settings}) {
    for (const runtime::RunSetting& setting : *list) {
      const std::string before = SettingValue(saved, setting.name);
      const std::string now = SettingValue(run.settings, setting.name);
      if (before == now) continue;
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: saved by a run with %s %s, this run has %s %s; a resume must keep the settings "
          "that shape training (it may change --epochs, --threads and the output files)",
          path, setting.name, before, setting.name, now));
    }
  }
  return absl::OkStatus();
}

// A different model, seed, settings or number of steps per epoch would not continue the same
// run: the shuffles and step keys are derived from (seed, epoch, global step). The tensors are
// checked (and loaded) between the seed and the settings: a changed layer is best reported by
// the tensor whose shape it changed, a changed batch size by the setting rather than its steps.
absl::Status CheckSameRun(const runtime::Checkpoint& checkpoint, const runtime::TrainOptions& run,
                          int64_t train_samples, runtime::Executable& executable) {
  const std::string& path = checkpoint.path;
  const runtime::CheckpointState& state = checkpoint.state;
  if (state.model_name != run.model_name) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: a checkpoint of model '%s', not '%s'", path, state.model_name, run.model_name));
  }
  if (state.seed != run.seed) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: saved by a run with seed %d, this run has seed %d", path, state.seed, run.seed));
  }
  KILN_RETURN_IF_ERROR(runtime::RestoreCheckpoint(checkpoint, executable));
  KILN_RETURN_IF_ERROR(CheckSameSettings(checkpoint, run));
  const int64_t steps_per_epoch = (train_samples + run.batch_size - 1) / run.batch_size;
  if (state.global_step == state.epoch * steps_per_epoch) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrFormat(
      "%s: saved by a run of %d steps per epoch, this run takes %d (a different --batch-size "
      "or --train-limit?)",
      path, state.epoch > 0 ? state.global_step / state.epoch : 0, steps_per_epoch));
}

// Continues the run saved in run.checkpoint_path: loads its tensors into `executable` and sets
// `run` to start after its last epoch. A missing file means a fresh start. When the checkpoint
// already holds all the epochs asked for, the run has none left to train; it still goes through
// the trainer, which rewrites the metrics file from the checkpoint's history.
absl::Status Resume(int64_t train_samples, runtime::Executable& executable,
                    runtime::TrainOptions& run) {
  const std::string& path = run.checkpoint_path;
  absl::StatusOr<runtime::Checkpoint> checkpoint = runtime::ReadCheckpoint(path);
  if (absl::IsNotFound(checkpoint.status())) {
    std::cout << absl::StrFormat("kiln: %s does not exist; starting from epoch 1\n", path);
    return absl::OkStatus();
  }
  KILN_RETURN_IF_ERROR(checkpoint.status());
  const runtime::CheckpointState& state = checkpoint->state;
  // On error the caller exits, so tensors it may have loaded are never used.
  KILN_RETURN_IF_ERROR(CheckSameRun(*checkpoint, run, train_samples, executable));
  run.first_epoch = state.epoch + 1;
  run.history = state.history;
  if (state.epoch >= run.epochs) {
    std::cout << absl::StrFormat(
        "kiln: %s already holds %d of %d epochs; nothing to train (raise --epochs to go on)\n",
        path, state.epoch, run.epochs);
    return absl::OkStatus();
  }
  std::cout << absl::StrFormat("kiln: resuming from %s after epoch %d of %d\n", path,
                               state.epoch, run.epochs);
  return absl::OkStatus();
}

absl::Status Train(std::vector<std::string> args) {
  KILN_ASSIGN_OR_RETURN(
      CommandLine line,
      CommandLine::Parse(args, {"epochs", "batch-size", "lr", "seed", "metrics-out", "data-dir",
                                "train-limit", "test-limit", "threads", "checkpoint", "device",
                                "init-weights", "save-best", "tensorboard", "log-every", "cpu"},
                         {"resume", "per-class"}));
  const bool resume = line.Has("resume");
  // First, so a machine without the device gets one line and no compile.
  KILN_ASSIGN_OR_RETURN(const codegen::Backend* backend,
                        FindBackend(line.String("device").value_or("cpu")));
  if (resume && !line.Has("checkpoint")) {
    return absl::InvalidArgumentError("--resume needs --checkpoint FILE");
  }
  KILN_ASSIGN_OR_RETURN(auto threads, line.Int("threads"));
  KILN_ASSIGN_OR_RETURN(PreparedTraining prepared, PrepareTraining(line));
  const ir::TrainConfig& train = prepared.train;
  const runtime::DataSplits& data = prepared.data;
  const CompiledModel& compiled = prepared.compiled;
  KILN_ASSIGN_OR_RETURN(
      std::unique_ptr<codegen::LoadedModel> loaded,
      backend->Load(compiled, {.seed = train.seed, .threads = static_cast<int>(threads.value_or(0)),
                               .cpu = line.String("cpu").value_or("native")}));
  KILN_RETURN_IF_ERROR(LoadInitWeights(prepared, loaded->host(), std::cout));
  double compile_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                         prepared.compile_start)
                               .count();
  std::cout << absl::StrFormat(
      "kiln: %s — %d train / %d test samples, batch %d, %s lr %g, %d epochs "
      "(compiled %d entry points in %.2fs, %s)\n",
      compiled.name, data.train.num_samples, data.test.num_samples, train.batch_size,
      train.optimizer.kind, train.optimizer.Get("lr", 0.0), train.epochs, compiled.entries.size(),
      compile_seconds, loaded->Describe());

  runtime::TrainOptions run = TrainOptionsOf(line, train, compiled.name);
  run.settings = prepared.settings;
  run.unfused_program = UnfusedProgram(prepared);
  if (resume) KILN_RETURN_IF_ERROR(Resume(data.train.num_samples, loaded->host(), run));
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<TensorBoardLog> tensorboard, AttachTensorBoard(line, run));
  KILN_ASSIGN_OR_RETURN(std::vector<runtime::EpochMetrics> history,
                        loaded->Fit(data.train, data.test, std::move(run)));
  KILN_RETURN_IF_ERROR(TensorBoardStatus(tensorboard));
  std::cout << FinalSummary(history);
  return absl::OkStatus();
}

}  // namespace

int TrainCommand(const std::vector<std::string>& args) {
  absl::Status status = Train(args);
  if (status.ok()) return 0;
  std::cerr << "kiln: " << status.message() << "\n";
  return 1;
}

}  // namespace kiln::tools
