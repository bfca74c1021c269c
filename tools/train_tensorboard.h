// `kiln train --tensorboard DIR [--log-every N]`: the trainer's per-epoch and per-step
// callbacks write TensorBoard scalars (runtime/tensorboard.h) to a new event file in DIR.
//
//   epoch/train_loss, epoch/test_loss, epoch/test_accuracy, epoch/learning_rate, epoch/seconds
//       at step = the epoch (1-based); test figures only when there is a test set;
//   step/train_loss  at step = the global step (1-based, across epochs), every N steps
//       (default 100; 0: none).
//
// A resumed run trains only the epochs after its checkpoint, so its file in the same DIR holds
// epochs and steps after those the first run logged; TensorBoard merges the files.
#ifndef KILN_TOOLS_TRAIN_TENSORBOARD_H_
#define KILN_TOOLS_TRAIN_TENSORBOARD_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/trainer.h"
#include "support/command_line.h"

namespace kiln::tools {

inline constexpr int64_t kDefaultLogEvery = 100;

// What the callbacks share: the writer and the first error it reported (the trainer's
// callbacks cannot return one).
class TensorBoardLog;

// With --tensorboard, opens the event file and chains the logging into run.on_epoch and
// run.on_step; returns null without the flag. Call after `run` is final (after a resume set its
// first epoch). After training, TensorBoardStatus says whether every write succeeded.
absl::StatusOr<std::shared_ptr<TensorBoardLog>> AttachTensorBoard(const CommandLine& line,
                                                                  runtime::TrainOptions& run);
absl::Status TensorBoardStatus(const std::shared_ptr<TensorBoardLog>& log);

}  // namespace kiln::tools

#endif  // KILN_TOOLS_TRAIN_TENSORBOARD_H_
