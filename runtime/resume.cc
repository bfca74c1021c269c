#include "runtime/resume.h"

#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "runtime/checkpoint.h"
#include "support/status.h"

namespace kiln::runtime {
namespace {

// The value of setting `name` in `settings`, or "(none)".
std::string SettingValue(const std::vector<RunSetting>& settings,
                         const std::string& name) {
  for (const RunSetting& setting : settings) {
    if (setting.name == name) return setting.value;
  }
  return "(none)";
}

// A resumed run continues the saved trajectory only with the settings that shaped it (the
// model, optimizer, learning rate, batch size, data and its limits: tools/train_setup.h,
// RunSettingsOf); any change is refused, naming the setting. Version 1 checkpoints recorded
// none, so their resumes go ahead unchecked, with a note.
absl::Status CheckSameSettings(const Checkpoint& checkpoint,
                               const TrainOptions& run) {
  const std::string& path = checkpoint.path;
  if (checkpoint.version < 2) {
    std::cout << absl::StrFormat(
        "kiln: %s was written by an older kiln; settings not recorded, so a changed --lr, "
        "--batch-size, limit, data or model cannot be detected\n",
        path);
    return absl::OkStatus();
  }
  const std::vector<RunSetting>& saved = checkpoint.state.settings;
  for (const std::vector<RunSetting>* list : {&saved, &run.settings}) {
    for (const RunSetting& setting : *list) {
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
absl::Status CheckSameRun(const Checkpoint& checkpoint, const TrainOptions& run,
                          int64_t train_samples, Executable& executable) {
  const std::string& path = checkpoint.path;
  const CheckpointState& state = checkpoint.state;
  if (state.model_name != run.model_name) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: a checkpoint of model '%s', not '%s'", path, state.model_name, run.model_name));
  }
  if (state.seed != run.seed) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: saved by a run with seed %d, this run has seed %d", path, state.seed, run.seed));
  }
  KILN_RETURN_IF_ERROR(RestoreCheckpoint(checkpoint, executable));
  KILN_RETURN_IF_ERROR(CheckSameSettings(checkpoint, run));
  const int64_t steps_per_epoch = (train_samples + run.batch_size - 1) / run.batch_size;
  if (state.global_step == state.epoch * steps_per_epoch) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrFormat(
      "%s: saved by a run of %d steps per epoch, this run takes %d (a different --batch-size "
      "or --train-limit?)",
      path, state.epoch > 0 ? state.global_step / state.epoch : 0, steps_per_epoch));
}

}  // namespace

// Continues the run saved in run.checkpoint_path: loads its tensors into `executable` and sets
// `run` to start after its last epoch. A missing file means a fresh start. When the checkpoint
// already holds all the epochs asked for, the run has none left to train; it still goes through
// the trainer, which rewrites the metrics file from the checkpoint's history.
absl::Status Resume(int64_t train_samples, Executable& executable,
                    TrainOptions& run) {
  const std::string& path = run.checkpoint_path;
  absl::StatusOr<Checkpoint> checkpoint = ReadCheckpoint(path);
  if (absl::IsNotFound(checkpoint.status())) {
    std::cout << absl::StrFormat("kiln: %s does not exist; starting from epoch 1\n", path);
    return absl::OkStatus();
  }
  KILN_RETURN_IF_ERROR(checkpoint.status());
  const CheckpointState& state = checkpoint->state;
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

}  // namespace kiln::runtime
