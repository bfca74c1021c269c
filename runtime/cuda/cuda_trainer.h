// The training loop on a CUDA device: runtime::Trainer's epochs, batches and metrics, with the
// steps run by a CudaExecutable. Batches (Batcher, ShuffledOrder), dropout keys (StepKey), the
// per-epoch line (FormatEpochLine), the metrics JSON (MetricsJson) and checkpoints are the CPU
// trainer's, so a CUDA run visits the same samples with the same keys as a CPU run.
//
// Pipelining: batch b+1 is gathered into page-locked memory and its copy enqueued while step b
// runs (two input parities). A step's loss is read one step late, so a non-finite loss is
// reported at the right step but one more step has already been enqueued by then.
//
// Data parallelism (TrainOptions::comm): as Trainer, each rank trains on its RankShare at the
// local batch and evaluates its EvaluationShard (PlanRankPass), metrics are summed over the
// ranks, and after each epoch rank 0's running statistics reach every rank through the host copy
// (SyncRanksAfterEpoch). The gradient all-reduce itself runs inside the step, on the device
// communicator bound to the executable (CudaExecutable::BindCollectives).
#ifndef KILN_RUNTIME_CUDA_CUDA_TRAINER_H_
#define KILN_RUNTIME_CUDA_CUDA_TRAINER_H_

#include <vector>

#include "absl/status/statusor.h"
#include "runtime/cuda/cuda_executable.h"
#include "runtime/dataset.h"
#include "runtime/executable.h"
#include "runtime/trainer.h"

namespace kiln::runtime {

class CudaTrainer {
 public:
  // `host` is the executable `device` was created from: checkpoints are written from it.
  CudaTrainer(CudaExecutable& device, Executable& host, TrainOptions options)
      : device_(device), host_(host), options_(std::move(options)) {}

  // As Trainer::Fit; afterwards the host executable holds the trained persistent tensors.
  absl::StatusOr<std::vector<EpochMetrics>> Fit(const Dataset& train, const Dataset& test);
  absl::StatusOr<EpochMetrics> TrainEpoch(const Dataset& train, int64_t epoch);
  absl::StatusOr<Evaluation> Evaluate(const Dataset& data);

 private:
  struct Staged;
  struct Step;
  struct Totals {
    double loss_sum = 0.0;
    double correct_sum = 0.0;
    Evaluation* classes = nullptr;  // Evaluation with per_class_accuracy: per-class counts.
  };
  absl::StatusOr<Step> BindStep(bool training, int64_t batch_size, const Dataset& data);
  // Runs every batch of `batcher` through full/last, pipelined; adds rows * loss (and correct).
  absl::Status RunBatches(const Batcher& batcher, const std::vector<int64_t>& order,
                          const Dataset& data, Step& full, Step& last, int64_t epoch,
                          int64_t first_global_step, bool training, Totals& totals);

  // The world size and this rank (1 and 0 without options_.comm).
  int world() const;
  int rank() const;

  CudaExecutable& device_;
  Executable& host_;
  TrainOptions options_;
  double learning_rate_ = 0.0;
};

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_CUDA_CUDA_TRAINER_H_
