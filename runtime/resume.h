// Resuming a training run from its checkpoint (`--checkpoint F --resume` of `kiln train` and of
// AOT-built programs): the checkpoint must come from the same model, seed and settings, with the
// same steps per epoch, or the resumed run would not continue the saved trajectory.
#ifndef KILN_RUNTIME_RESUME_H_
#define KILN_RUNTIME_RESUME_H_

#include <cstdint>

#include "absl/status/status.h"
#include "runtime/executable.h"
#include "runtime/trainer.h"

namespace kiln::runtime {

// Continues the run saved in run.checkpoint_path: loads its tensors into `executable` and sets
// `run` to start after its last epoch (first_epoch, history). A missing file means a fresh
// start. Prints one line saying which (to stdout). Errors name the checkpoint and the setting
// that differs.
absl::Status Resume(int64_t train_samples, Executable& executable, TrainOptions& run);

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_RESUME_H_
