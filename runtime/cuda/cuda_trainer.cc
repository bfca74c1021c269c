#include "runtime/cuda/cuda_trainer.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>

#include "absl/strings/str_format.h"
#include "runtime/batcher.h"
#include "runtime/communicator.h"
#include "runtime/data_parallel.h"
#include "runtime/non_finite.h"
#include "runtime/random.h"
#include "support/status.h"

namespace kiln::runtime {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int CudaTrainer::world() const { return options_.comm != nullptr ? options_.comm->world_size() : 1; }
int CudaTrainer::rank() const { return options_.comm != nullptr ? options_.comm->rank() : 0; }

// Where one parity's inputs live in page-locked memory.
struct CudaTrainer::Staged {
  float* features = nullptr;
  int64_t* labels = nullptr;    // i64 labels input, or `staging` when labels are f32.
  float* labels_f32 = nullptr;
  float* learning_rate = nullptr;
  int64_t* rng_key = nullptr;
  std::vector<int64_t> staging;
};

struct CudaTrainer::Step {
  int entry = -1;
  int64_t target_dim = 0;  // As Trainer::Step: f32 targets gathered per sample.
  bool has_correct = false;
  bool has_predicted = false;  // Evaluation entries of classification losses.
  std::array<Staged, CudaExecutable::kParities> staged;
};

absl::StatusOr<CudaTrainer::Step> CudaTrainer::BindStep(bool training, int64_t batch_size,
                                                        const Dataset& data) {
  const ProgramSpec& program = device_.program();
  Step step;
  KILN_ASSIGN_OR_RETURN(step.entry, device_.FindEntry(training, batch_size));
  const EntrySpec& entry = program.entries[step.entry];
  for (int parity = 0; parity < CudaExecutable::kParities; ++parity) {
    Staged& staged = step.staged[parity];
    for (const BufferSpec& buffer : entry.buffers) {
      if (buffer.role != BufferRole::kInput) continue;
      KILN_ASSIGN_OR_RETURN(void* data_ptr, device_.StagedInput(step.entry, parity, buffer.name));
      const int64_t elements = NumElements(buffer.shape);
      if (buffer.name == program.features_input && buffer.type == ElementType::kF32 &&
          elements == batch_size * data.feature_dim) {
        staged.features = static_cast<float*>(data_ptr);
      } else if (buffer.name == program.labels_input && buffer.type == ElementType::kI64 &&
                 data.target_dim == 0 && elements == batch_size) {
        staged.labels = static_cast<int64_t*>(data_ptr);
      } else if (buffer.name == program.labels_input && buffer.type == ElementType::kF32 &&
                 elements == batch_size * std::max<int64_t>(data.target_dim, 1)) {
        step.target_dim = data.target_dim;
        staged.staging.resize(batch_size);
        staged.labels = staged.staging.data();
        staged.labels_f32 = static_cast<float*>(data_ptr);
      } else if (buffer.name == kLearningRateInput && buffer.type == ElementType::kF32 &&
                 elements == 1) {
        staged.learning_rate = static_cast<float*>(data_ptr);
      } else if (buffer.name == kRngInput && buffer.type == ElementType::kI64 && elements == 1) {
        staged.rng_key = static_cast<int64_t*>(data_ptr);
      } else {
        return absl::InvalidArgumentError(absl::StrFormat(
            "entry '%s': input '%s' (%s) is not one the trainer feeds with this data (run it "
            "on the CPU for a detailed message)",
            entry.symbol, buffer.name, TypeString(buffer.type, buffer.shape)));
      }
    }
    if (staged.features == nullptr || staged.labels == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrFormat("entry '%s' lacks the features input '%s' or the labels input '%s'",
                          entry.symbol, program.features_input, program.labels_input));
    }
  }
  KILN_RETURN_IF_ERROR(device_.Output(step.entry, 0, kLossOutput).status());
  step.has_correct = device_.Output(step.entry, 0, kCorrectOutput).ok();
  step.has_predicted = device_.Output(step.entry, 0, kPredictedOutput).ok();
  return step;
}

absl::Status CudaTrainer::RunBatches(const Batcher& batcher, const std::vector<int64_t>& order,
                                     const Dataset& data, Step& full, Step& last, int64_t epoch,
                                     int64_t first_global_step, bool training, Totals& totals) {
  struct InFlight {
    const Step* step = nullptr;
    int parity = 0;
    int64_t rows = 0;
    int64_t batch = 0;
  };
  auto finish = [&](const InFlight& done) -> absl::Status {
    KILN_RETURN_IF_ERROR(device_.Wait(done.step->entry, done.parity));
    KILN_ASSIGN_OR_RETURN(const void* loss_ptr,
                          device_.Output(done.step->entry, done.parity, kLossOutput));
    const double loss = *static_cast<const float*>(loss_ptr);
    if (!std::isfinite(loss)) {
      // The CPU trainer's wording; naming the op needs its unfused replay (TrainOptions).
      if (!training) {
        return absl::AbortedError(absl::StrFormat("evaluation batch %d: test loss is %s",
                                                  done.batch + 1, NonFiniteName(loss)));
      }
      return absl::AbortedError(absl::StrFormat("epoch %d step %d: loss is %s", epoch,
                                                done.batch + 1, NonFiniteName(loss)));
    }
    totals.loss_sum += loss * static_cast<double>(done.rows);
    if (training && options_.on_step) options_.on_step(first_global_step + done.batch + 1, loss);
    if (training && options_.progress != nullptr) options_.progress->Step(done.batch + 1, loss);
    if (done.step->has_correct) {
      KILN_ASSIGN_OR_RETURN(const void* correct,
                            device_.Output(done.step->entry, done.parity, kCorrectOutput));
      totals.correct_sum += *static_cast<const float*>(correct);
    }
    if (totals.classes != nullptr && done.step->has_predicted) {
      KILN_ASSIGN_OR_RETURN(const void* predicted,
                            device_.Output(done.step->entry, done.parity, kPredictedOutput));
      // Evaluation orders are contiguous (a rank's shard): the batch's first sample onwards.
      CountClasses(data, order[done.batch * batcher.batch_size()], done.rows,
                   static_cast<const int64_t*>(predicted), *totals.classes);
    }
    return absl::OkStatus();
  };

  std::optional<InFlight> pending;
  for (int64_t b = 0; b < batcher.num_batches(); ++b) {
    const int64_t rows = batcher.BatchRows(b);
    Step& step = rows == batcher.batch_size() ? full : last;
    const int parity = static_cast<int>(b % CudaExecutable::kParities);
    Staged& staged = step.staged[parity];
    // The step that last used this parity (b - 2) has been waited for below.
    batcher.Gather(b, BatchBuffers{staged.features, staged.labels,
                                   step.target_dim > 0 ? staged.labels_f32 : nullptr});
    if (step.target_dim == 0 && staged.labels_f32 != nullptr) {
      for (int64_t i = 0; i < rows; ++i) staged.labels_f32[i] = static_cast<float>(staged.labels[i]);
    }
    if (staged.learning_rate != nullptr) *staged.learning_rate = static_cast<float>(learning_rate_);
    if (staged.rng_key != nullptr) {
      *staged.rng_key = StepKey(RankSeed(options_.seed, rank()), first_global_step + b);
    }
    KILN_RETURN_IF_ERROR(device_.Launch(step.entry, parity));
    if (pending) KILN_RETURN_IF_ERROR(finish(*pending));
    pending = InFlight{&step, parity, rows, b};
  }
  if (pending) KILN_RETURN_IF_ERROR(finish(*pending));
  return absl::OkStatus();
}

absl::StatusOr<EpochMetrics> CudaTrainer::TrainEpoch(const Dataset& train, int64_t epoch) {
  learning_rate_ = ScheduledLearningRate(options_.schedule, options_.learning_rate, epoch);
  KILN_ASSIGN_OR_RETURN(RankPass pass, PlanRankPass(options_, /*training=*/true, train.num_samples,
                                                    epoch, world(), rank()));
  const int64_t samples = static_cast<int64_t>(pass.order.size());
  Batcher batcher(train, pass.batch_size, pass.order);
  KILN_ASSIGN_OR_RETURN(Step full, BindStep(/*training=*/true, pass.batch_size, train));
  Step last;
  if (const int64_t remainder = samples % pass.batch_size; remainder != 0) {
    KILN_ASSIGN_OR_RETURN(last, BindStep(/*training=*/true, remainder, train));
  }
  EpochMetrics metrics;
  metrics.epoch = epoch;
  metrics.steps = batcher.num_batches();
  Totals totals;
  const Clock::time_point start = Clock::now();
  if (options_.progress != nullptr) options_.progress->Begin(epoch, metrics.steps);
  KILN_RETURN_IF_ERROR(RunBatches(batcher, pass.order, train, full, last, epoch,
                                  (epoch - 1) * metrics.steps, /*training=*/true, totals));
  metrics.seconds = SecondsSince(start);
  if (world() > 1) {
    KILN_ASSIGN_OR_RETURN(totals.loss_sum, SumEpochLossOverRanks(*options_.comm, totals.loss_sum,
                                                                 samples, train.num_samples));
    // Rank 0's running statistics to every rank and the parameter hash check, on the host copy.
    KILN_RETURN_IF_ERROR(device_.DownloadPersistent());
    KILN_RETURN_IF_ERROR(SyncRanksAfterEpoch(*options_.comm, host_, epoch));
    KILN_RETURN_IF_ERROR(device_.UploadPersistent());
  }
  metrics.train_samples = train.num_samples;
  metrics.train_loss = train.num_samples > 0 ? totals.loss_sum / train.num_samples : kNaN;
  metrics.samples_per_second = metrics.seconds > 0 ? train.num_samples / metrics.seconds : 0.0;
  return metrics;
}

absl::StatusOr<Evaluation> CudaTrainer::Evaluate(const Dataset& data) {
  KILN_ASSIGN_OR_RETURN(RankPass pass, PlanRankPass(options_, /*training=*/false,
                                                    data.num_samples, /*epoch=*/0, world(),
                                                    rank()));
  const int64_t samples = static_cast<int64_t>(pass.order.size());
  Batcher batcher(data, pass.batch_size, pass.order);
  Step full, last;
  const int64_t remainder = samples % pass.batch_size;
  if (samples > 0) {  // A rank of a data-parallel run may have no test samples of its own.
    KILN_ASSIGN_OR_RETURN(full, BindStep(/*training=*/false, pass.batch_size, data));
    if (remainder != 0) {
      KILN_ASSIGN_OR_RETURN(last, BindStep(/*training=*/false, remainder, data));
    }
  }
  EvaluationSums sums;
  sums.has_accuracy = full.has_correct && (remainder == 0 || last.has_correct);
  sums.per_class = options_.per_class_accuracy && full.has_predicted &&
                   (remainder == 0 || last.has_predicted);
  Evaluation result;
  Totals totals;
  if (sums.per_class) totals.classes = &result;
  const Clock::time_point start = Clock::now();
  // Evaluation steps take global step 0's key, as on the CPU (dropout is off in them anyway).
  learning_rate_ = 0.0;
  KILN_RETURN_IF_ERROR(RunBatches(batcher, pass.order, data, full, last, /*epoch=*/0,
                                  /*first_global_step=*/0, /*training=*/false, totals));
  sums.loss_sum = totals.loss_sum;
  sums.correct_sum = totals.correct_sum;
  if (world() > 1) {
    KILN_RETURN_IF_ERROR(SumEvaluationOverRanks(*options_.comm, data,
                                                options_.per_class_accuracy, sums, result));
  }
  result.seconds = SecondsSince(start);
  result.loss = data.num_samples > 0 ? sums.loss_sum / data.num_samples : kNaN;
  result.accuracy =
      sums.has_accuracy && data.num_samples > 0 ? sums.correct_sum / data.num_samples : kNaN;
  return result;
}

absl::StatusOr<std::vector<EpochMetrics>> CudaTrainer::Fit(const Dataset& train,
                                                           const Dataset& test) {
  KILN_ASSIGN_OR_RETURN(
      std::vector<EpochMetrics> history,
      RunEpochs(options_,
                EpochBackend{.train_epoch = [&](int64_t epoch) { return TrainEpoch(train, epoch); },
                             .evaluate = [&] { return Evaluate(test); },
                             .has_test_set = test.num_samples > 0,
                             .host = &host_,
                             .sync_host = [&] { return device_.DownloadPersistent(); }}));
  // The trained parameters back on the host, for the caller's final checkpoint or export.
  KILN_RETURN_IF_ERROR(device_.DownloadPersistent());
  return history;
}

}  // namespace kiln::runtime
