#include "runtime/trainer.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/batcher.h"
#include "runtime/checkpoint.h"
#include "runtime/communicator.h"
#include "runtime/data_parallel.h"
#include "runtime/non_finite.h"
#include "runtime/random.h"
#include "support/file_io.h"
#include "support/status.h"

namespace kiln::runtime {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

absl::Status CheckScalar(const Entry& entry, const BufferView& view, ElementType type) {
  if (view.spec->type == type && view.num_elements() == 1) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrFormat(
      "entry '%s': '%s' is %s but must be a %s scalar", entry.spec().symbol, view.spec->name,
      TypeString(view.spec->type, view.spec->shape), ElementTypeName(type)));
}

absl::Status CheckBatchInput(const Entry& entry, const BufferView& view, int64_t values,
                             const char* what) {
  if (view.num_elements() == entry.batch_size() * values) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrFormat(
      "entry '%s': %s input '%s' is %s but a batch of %d samples has %d x %d values",
      entry.spec().symbol, what, view.spec->name, TypeString(view.spec->type, view.spec->shape),
      entry.batch_size(), entry.batch_size(), values));
}

std::string JsonNumber(double value) {
  if (!std::isfinite(value)) return "null";
  return absl::StrFormat("%.9g", value);
}

}  // namespace

namespace {
struct ScheduleName {
  LrSchedule::Kind kind;
  const char* name;
};
constexpr ScheduleName kScheduleNames[] = {{LrSchedule::Kind::kConstant, "constant"},
                                           {LrSchedule::Kind::kStep, "step"},
                                           {LrSchedule::Kind::kExponential, "exponential"},
                                           {LrSchedule::Kind::kCosine, "cosine"}};
}  // namespace

std::string LrScheduleName(LrSchedule::Kind kind) {
  for (const ScheduleName& entry : kScheduleNames) {
    if (entry.kind == kind) return entry.name;
  }
  return "constant";
}

std::optional<LrSchedule::Kind> FindLrSchedule(const std::string& name) {
  for (const ScheduleName& entry : kScheduleNames) {
    if (name == entry.name) return entry.kind;
  }
  return std::nullopt;
}

double ScheduledLearningRate(const LrSchedule& schedule, double base, int64_t epoch) {
  const int64_t steps = epoch - 1;  // Scheduler steps taken before this epoch.
  switch (schedule.kind) {
    case LrSchedule::Kind::kConstant:
      return base;
    case LrSchedule::Kind::kStep:
      return base * std::pow(schedule.gamma, static_cast<double>(steps / std::max<int64_t>(schedule.step_size, 1)));
    case LrSchedule::Kind::kExponential:
      return base * std::pow(schedule.gamma, static_cast<double>(steps));
    case LrSchedule::Kind::kCosine:
      return schedule.eta_min + (base - schedule.eta_min) *
                                    (1.0 + std::cos(M_PI * static_cast<double>(steps) /
                                                    static_cast<double>(std::max<int64_t>(schedule.t_max, 1)))) /
                                    2.0;
  }
  return base;
}

// An entry with its inputs and outputs looked up once, so a step is pointer writes and a call.
struct Trainer::Step {
  Entry* entry = nullptr;
  float* features = nullptr;
  int64_t* labels = nullptr;    // The i64 labels input, or staging when labels are f32.
  float* labels_f32 = nullptr;  // The f32 labels input (regression-style targets).
  // The data set's f32 targets per sample, gathered straight into labels_f32; 0: the labels
  // input gets the class labels (converted to f32 when it is f32).
  int64_t target_dim = 0;
  std::vector<int64_t> staging;
  float* learning_rate = nullptr;
  int64_t* rng_key = nullptr;
  const float* loss = nullptr;
  const float* correct = nullptr;
  const int64_t* predicted = nullptr;  // Evaluation entries of classification losses.
};

Trainer::Trainer(Executable& executable, ThreadPool& pool, TrainOptions options)
    : executable_(executable),
      pool_(pool),
      options_(std::move(options)),
      parallel_(options_.comm != nullptr ? BindCommunicator(*pool.parallel(), *options_.comm)
                                         : *pool.parallel()) {
  // A replay on one rank would run its collectives alone and wait forever for the others.
  if (world() > 1) options_.unfused_program = nullptr;
}

int Trainer::world() const { return options_.comm != nullptr ? options_.comm->world_size() : 1; }
int Trainer::rank() const { return options_.comm != nullptr ? options_.comm->rank() : 0; }

absl::Status Trainer::BindInput(const BufferView& view, const Dataset& data, Step& step) {
  const ProgramSpec& program = executable_.program();
  const Entry& entry = *step.entry;
  const BufferSpec& buffer = *view.spec;
  if (buffer.name == program.features_input) {
    if (buffer.type != ElementType::kF32) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "entry '%s': features input '%s' must be f32", entry.spec().symbol, buffer.name));
    }
    KILN_RETURN_IF_ERROR(CheckBatchInput(entry, view, data.feature_dim, "features"));
    step.features = view.f32();
    return absl::OkStatus();
  }
  if (buffer.name == program.labels_input) {
    if (buffer.type == ElementType::kI64 && data.target_dim > 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "entry '%s': labels input '%s' is i64 (class indices) but the data has f32 targets "
          "of %d per sample; declare it f32",
          entry.spec().symbol, buffer.name, data.target_dim));
    }
    const bool targets = buffer.type == ElementType::kF32 && data.target_dim > 0;
    KILN_RETURN_IF_ERROR(CheckBatchInput(entry, view, targets ? data.target_dim : 1, "labels"));
    if (buffer.type == ElementType::kI64) {
      step.labels = view.i64();
      return absl::OkStatus();
    }
    if (targets) step.target_dim = data.target_dim;
    // Float targets (regression, binary cross-entropy): gather as i64, convert per step.
    step.staging.resize(entry.batch_size());
    step.labels = step.staging.data();
    step.labels_f32 = view.f32();
    return absl::OkStatus();
  }
  if (buffer.name == kLearningRateInput) {
    KILN_RETURN_IF_ERROR(CheckScalar(entry, view, ElementType::kF32));
    step.learning_rate = view.f32();
    return absl::OkStatus();
  }
  if (buffer.name == kRngInput) {
    KILN_RETURN_IF_ERROR(CheckScalar(entry, view, ElementType::kI64));
    step.rng_key = view.i64();
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "entry '%s': input '%s' is not one the trainer feeds (%s, %s, %s, %s)", entry.spec().symbol,
      buffer.name, program.features_input, program.labels_input, kLearningRateInput, kRngInput));
}

absl::StatusOr<Trainer::Step> Trainer::BindStep(bool training, int64_t batch_size,
                                                const Dataset& data) {
  const ProgramSpec& program = executable_.program();
  Step step;
  KILN_ASSIGN_OR_RETURN(step.entry, executable_.FindEntry(training, batch_size));
  const Entry& entry = *step.entry;
  for (const BufferSpec& buffer : entry.spec().buffers) {
    if (buffer.role != BufferRole::kInput) continue;
    KILN_ASSIGN_OR_RETURN(BufferView view, entry.Input(buffer.name));
    KILN_RETURN_IF_ERROR(BindInput(view, data, step));
  }
  if (step.features == nullptr || step.labels == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrFormat("entry '%s' lacks the features input '%s' or the labels input '%s'",
                        entry.spec().symbol, program.features_input, program.labels_input));
  }
  KILN_ASSIGN_OR_RETURN(BufferView loss, entry.Output(kLossOutput));
  KILN_RETURN_IF_ERROR(CheckScalar(entry, loss, ElementType::kF32));
  step.loss = loss.f32();
  // "correct" is optional: a regression model has no accuracy.
  absl::StatusOr<BufferView> correct = entry.Output(kCorrectOutput);
  if (correct.ok()) {
    KILN_RETURN_IF_ERROR(CheckScalar(entry, *correct, ElementType::kF32));
    step.correct = correct->f32();
  }
  absl::StatusOr<BufferView> predicted = entry.Output(kPredictedOutput);
  if (predicted.ok() && predicted->spec->type == ElementType::kI64 &&
      predicted->num_elements() == entry.batch_size()) {
    step.predicted = predicted->i64();
  }
  return step;
}

void Trainer::GatherBatch(const Batcher& batcher, int64_t batch, const Step& step) const {
  batcher.Gather(batch,
                 BatchBuffers{step.features, step.labels,
                              step.target_dim != 0 ? step.labels_f32 : nullptr},
                 &pool_);
}

// One pass over a data set: its batches and the entries that run them (the full batch size and,
// when the data does not divide evenly, the smaller last batch).
struct Trainer::Pass {
  std::vector<int64_t> order;
  Batcher batcher;
  int64_t batch_size = 0;
  Step full;
  Step last;

  const Step& StepFor(int64_t batch) const {
    return batcher.BatchRows(batch) == batch_size ? full : last;
  }
};

// What a kernel-by-kernel replay found, and at which step or batch (1-based).
struct Trainer::Culprit {
  NonFiniteValue value;
  int64_t step = 0;
};

absl::StatusOr<Trainer::Pass> Trainer::PlanPass(bool training, const Dataset& data,
                                                int64_t epoch) {
  KILN_ASSIGN_OR_RETURN(RankPass rank_pass,
                        PlanRankPass(options_, training, data.num_samples, epoch, world(), rank()));
  std::vector<int64_t> order = std::move(rank_pass.order);
  const int64_t samples = static_cast<int64_t>(order.size());
  const int64_t batch_size = rank_pass.batch_size;
  Pass pass{order, Batcher(data, batch_size, order), batch_size};
  if (samples == 0) return pass;  // A rank with no test samples of its own.
  KILN_ASSIGN_OR_RETURN(pass.full, BindStep(training, batch_size, data));
  const int64_t remainder = samples % batch_size;
  if (remainder != 0) {
    KILN_ASSIGN_OR_RETURN(pass.last, BindStep(training, remainder, data));
  }
  return pass;
}

void Trainer::FeedStep(const Step& step, int64_t batch_rows, int64_t global_step) {
  if (step.labels_f32 != nullptr && step.target_dim == 0) {
    for (int64_t i = 0; i < batch_rows; ++i) {
      step.labels_f32[i] = static_cast<float>(step.labels[i]);
    }
  }
  if (step.learning_rate != nullptr) {
    *step.learning_rate = static_cast<float>(learning_rate_);
  }
  if (step.rng_key != nullptr) {
    *step.rng_key = StepKey(RankSeed(options_.seed, rank()), global_step);
  }
}

double Trainer::RunStep(const Step& step, int64_t batch_rows, int64_t global_step) {
  FeedStep(step, batch_rows, global_step);
  step.entry->Run(&parallel_);
  return static_cast<double>(*step.loss);
}

absl::StatusOr<EpochMetrics> Trainer::TrainEpoch(const Dataset& train, int64_t epoch) {
  learning_rate_ = ScheduledLearningRate(options_.schedule, options_.learning_rate, epoch);
  epoch_ = epoch;
  KILN_ASSIGN_OR_RETURN(Pass pass, PlanPass(/*training=*/true, train, epoch));
  // One copy of the parameters and optimizer state per epoch: what a replay starts from.
  if (options_.unfused_program) {
    epoch_start_.clear();
    for (const Tensor& tensor : executable_.persistent()) {
      epoch_start_.emplace_back(static_cast<const char*>(tensor.data()), tensor.bytes());
    }
  }
  auto replay = [&](Trainer& unfused) { return unfused.ReplayEpoch(train, epoch); };

  EpochMetrics metrics;
  metrics.epoch = epoch;
  metrics.steps = pass.batcher.num_batches();
  double loss_sum = 0.0;
  int64_t rows_trained = 0;
  const Clock::time_point start = Clock::now();
  if (options_.progress != nullptr) options_.progress->Begin(epoch, metrics.steps);
  for (int64_t b = 0; b < metrics.steps; ++b) {
    const int64_t rows = pass.batcher.BatchRows(b);
    const Step& step = pass.StepFor(b);
    GatherBatch(pass.batcher, b, step);
    // The loss is read back every step anyway, so this check costs one comparison.
    const double loss = RunStep(step, rows, (epoch - 1) * metrics.steps + b);
    if (!std::isfinite(loss)) {
      return NonFiniteError(
          absl::StrFormat("epoch %d step %d: loss is %s", epoch, b + 1, NonFiniteName(loss)),
          b + 1, /*from_epoch_start=*/true, replay);
    }
    loss_sum += loss * static_cast<double>(rows);
    rows_trained += rows;
    if (options_.on_step) options_.on_step((epoch - 1) * metrics.steps + b + 1, loss);
    if (options_.progress != nullptr) options_.progress->Step(b + 1, loss);
  }
  metrics.seconds = SecondsSince(start);
  // The last step's update can leave a parameter non-finite while every loss was finite.
  if (const Tensor* tensor = FirstNonFiniteParameter(executable_)) {
    return NonFiniteError(absl::StrFormat("epoch %d: '%s' is not finite after the last step",
                                          epoch, tensor->name()),
                          metrics.steps, /*from_epoch_start=*/true, replay);
  }
  if (world() > 1) {
    // The epoch's loss over every rank's samples (the padding that evens out the shares too).
    KILN_ASSIGN_OR_RETURN(loss_sum, SumEpochLossOverRanks(*options_.comm, loss_sum, rows_trained,
                                                          train.num_samples));
    KILN_RETURN_IF_ERROR(SyncRanksAfterEpoch(*options_.comm, executable_, epoch));
  }
  metrics.train_samples = train.num_samples;
  metrics.train_loss = train.num_samples > 0 ? loss_sum / train.num_samples : kNaN;
  metrics.samples_per_second = metrics.seconds > 0 ? train.num_samples / metrics.seconds : 0.0;
  return metrics;
}

absl::StatusOr<Evaluation> Trainer::Evaluate(const Dataset& data) {
  KILN_ASSIGN_OR_RETURN(Pass pass, PlanPass(/*training=*/false, data, /*epoch=*/0));
  const int64_t samples = static_cast<int64_t>(pass.order.size());
  const int64_t remainder = samples % pass.batch_size;
  EvaluationSums sums;
  sums.has_accuracy =
      pass.full.correct != nullptr && (remainder == 0 || pass.last.correct != nullptr);
  sums.per_class = options_.per_class_accuracy && pass.full.predicted != nullptr &&
                   (remainder == 0 || pass.last.predicted != nullptr);
  Evaluation result;
  // Evaluation shards are contiguous: batch b starts at sample first_sample + b * batch_size.
  const int64_t first_sample = pass.order.empty() ? 0 : pass.order.front();

  const Clock::time_point start = Clock::now();
  for (int64_t b = 0; b < pass.batcher.num_batches(); ++b) {
    const int64_t rows = pass.batcher.BatchRows(b);
    const Step& step = pass.StepFor(b);
    GatherBatch(pass.batcher, b, step);
    const double loss = RunStep(step, rows, /*global_step=*/0);
    if (!std::isfinite(loss)) {
      return NonFiniteError(absl::StrFormat("epoch %d evaluation batch %d: test loss is %s",
                                            epoch_, b + 1, NonFiniteName(loss)),
                            b + 1, /*from_epoch_start=*/false,
                            [&](Trainer& unfused) { return unfused.ReplayEvaluation(data, b); });
    }
    sums.loss_sum += loss * static_cast<double>(rows);
    if (sums.has_accuracy) sums.correct_sum += *step.correct;
    if (sums.per_class) {
      CountClasses(data, first_sample + b * pass.batch_size, rows, step.predicted, result);
    }
  }
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

absl::Status Trainer::NonFiniteError(
    const std::string& headline, int64_t seen, bool from_epoch_start,
    const std::function<absl::StatusOr<std::optional<Culprit>>(Trainer&)>& replay) {
  if (!options_.unfused_program) return absl::AbortedError(headline);
  absl::StatusOr<std::string> why = ExplainNonFinite(seen, from_epoch_start, replay);
  // The run stops either way; a replay that cannot run leaves the headline and says why.
  if (!why.ok()) {
    return absl::AbortedError(
        absl::StrCat(headline, "; the op-by-op replay failed: ", why.status().message()));
  }
  return absl::AbortedError(absl::StrCat(headline, "; ", *why));
}

absl::StatusOr<std::string> Trainer::ExplainNonFinite(
    int64_t seen, bool from_epoch_start,
    const std::function<absl::StatusOr<std::optional<Culprit>>(Trainer&)>& replay) {
  KILN_ASSIGN_OR_RETURN(Executable * unfused, options_.unfused_program());
  const std::vector<Tensor>& tensors = executable_.persistent();
  for (size_t i = 0; i < tensors.size(); ++i) {
    Tensor* target = unfused->FindPersistent(tensors[i].name());
    if (target == nullptr || target->bytes() != tensors[i].bytes()) {
      return absl::InternalError(
          absl::StrFormat("the unfused program has no tensor '%s' like it", tensors[i].name()));
    }
    const void* from = from_epoch_start ? epoch_start_[i].data() : tensors[i].data();
    std::memcpy(target->data(), from, tensors[i].bytes());
  }
  TrainOptions options = options_;
  options.unfused_program = nullptr;
  options.log = nullptr;
  options.on_epoch = nullptr;  // The replay is a diagnosis, not more training to report.
  options.on_step = nullptr;
  options.progress = nullptr;
  Trainer unfused_trainer(*unfused, pool_, std::move(options));
  unfused_trainer.epoch_ = epoch_;
  KILN_ASSIGN_OR_RETURN(std::optional<Culprit> culprit, replay(unfused_trainer));
  if (!culprit) {
    // The unfused program rounds differently (no FMA across ops, other summation orders).
    return std::string("replayed op by op, every value stayed finite, so no op can be named");
  }
  const NonFiniteValue& value = culprit->value;
  const std::string where =
      culprit->step == seen
          ? ""
          : absl::StrFormat(" (at %s %d)", from_epoch_start ? "step" : "batch", culprit->step);
  return absl::StrFormat("first non-finite value (%s) %s%s", NonFiniteName(value.value),
                         value.source, where);
}

absl::StatusOr<std::optional<Trainer::Culprit>> Trainer::ReplayEpoch(const Dataset& train,
                                                                     int64_t epoch) {
  learning_rate_ = ScheduledLearningRate(options_.schedule, options_.learning_rate, epoch);
  KILN_ASSIGN_OR_RETURN(Pass pass, PlanPass(/*training=*/true, train, epoch));
  const int64_t steps = pass.batcher.num_batches();
  for (int64_t b = 0; b < steps; ++b) {
    const Step& step = pass.StepFor(b);
    GatherBatch(pass.batcher, b, step);
    FeedStep(step, pass.batcher.BatchRows(b), (epoch - 1) * steps + b);
    KILN_ASSIGN_OR_RETURN(std::optional<NonFiniteValue> found,
                          RunCheckingValues(*step.entry, &parallel_));
    if (found) return Culprit{*found, b + 1};
  }
  return std::nullopt;
}

absl::StatusOr<std::optional<Trainer::Culprit>> Trainer::ReplayEvaluation(const Dataset& data,
                                                                          int64_t batch) {
  KILN_ASSIGN_OR_RETURN(Pass pass, PlanPass(/*training=*/false, data, /*epoch=*/0));
  const Step& step = pass.StepFor(batch);
  GatherBatch(pass.batcher, batch, step);
  FeedStep(step, pass.batcher.BatchRows(batch), /*global_step=*/0);
  KILN_ASSIGN_OR_RETURN(std::optional<NonFiniteValue> found,
                        RunCheckingValues(*step.entry, &parallel_));
  if (!found) return std::nullopt;
  return Culprit{*found, batch + 1};
}

absl::StatusOr<std::vector<EpochMetrics>> RunEpochs(const TrainOptions& options,
                                                   const EpochBackend& backend) {
  std::vector<EpochMetrics> history = options.history;
  // A resumed run first makes the metrics file match the checkpoint it continues: a run killed
  // between the checkpoint's rename and the metrics file's left the file an epoch behind, and a
  // resume with nothing left to train would otherwise never rewrite it.
  if (!options.metrics_out.empty() && !history.empty()) {
    KILN_RETURN_IF_ERROR(WriteFileAtomically(options.metrics_out, MetricsJson(history)));
  }
  // A resumed run whose checkpoint was written by the epoch that stopped it stops again.
  if (std::string why = EarlyStopReason(history, options.early_stopping_patience); !why.empty()) {
    if (options.log != nullptr) *options.log << why << std::endl;
    return history;
  }
  Evaluation last_evaluation;
  for (int64_t epoch = options.first_epoch; epoch <= options.epochs; ++epoch) {
    KILN_ASSIGN_OR_RETURN(EpochMetrics metrics, backend.train_epoch(epoch));
    metrics.test_loss = kNaN;
    metrics.test_accuracy = kNaN;
    if (backend.has_test_set) {
      KILN_ASSIGN_OR_RETURN(Evaluation evaluation, backend.evaluate());
      metrics.test_loss = evaluation.loss;
      metrics.test_accuracy = evaluation.accuracy;
      metrics.eval_seconds = evaluation.seconds;
      last_evaluation = std::move(evaluation);
    }
    history.push_back(metrics);
    if (options.progress != nullptr) options.progress->End();
    if (options.log != nullptr) {
      *options.log << FormatEpochLine(metrics, options.epochs) << std::endl;
    }
    const bool save_best = !options.best_checkpoint_path.empty() && IsBestEpoch(history);
    if (!options.checkpoint_path.empty() || save_best) {
      if (backend.sync_host) KILN_RETURN_IF_ERROR(backend.sync_host());
      const CheckpointState state{.model_name = options.model_name,
                                  .seed = options.seed,
                                  .epoch = epoch,
                                  .global_step = epoch * metrics.steps,
                                  .settings = options.settings,
                                  .history = history};
      if (!options.checkpoint_path.empty()) {
        KILN_RETURN_IF_ERROR(SaveCheckpoint(options.checkpoint_path, state, *backend.host));
      }
      if (save_best) {
        KILN_RETURN_IF_ERROR(SaveCheckpoint(options.best_checkpoint_path, state, *backend.host));
      }
    }
    if (options.on_epoch) options.on_epoch(metrics);
    if (!options.metrics_out.empty()) {
      KILN_RETURN_IF_ERROR(WriteFileAtomically(options.metrics_out, MetricsJson(history)));
    }
    // Data parallelism: no rank starts the next epoch (or exits) before rank 0 has written.
    if (options.comm != nullptr) KILN_RETURN_IF_ERROR(options.comm->Barrier());
    if (std::string why = EarlyStopReason(history, options.early_stopping_patience);
        !why.empty()) {
      if (options.log != nullptr) *options.log << why << std::endl;
      break;
    }
  }
  if (options.per_class_accuracy && options.log != nullptr &&
      !last_evaluation.class_total.empty()) {
    *options.log << "\n" << FormatPerClassReport(last_evaluation) << std::flush;
  }
  return history;
}

absl::StatusOr<std::vector<EpochMetrics>> Trainer::Fit(const Dataset& train, const Dataset& test) {
  return RunEpochs(options_,
                   EpochBackend{.train_epoch = [&](int64_t epoch) { return TrainEpoch(train, epoch); },
                                .evaluate = [&] { return Evaluate(test); },
                                .has_test_set = test.num_samples > 0,
                                .host = &executable_});
}

bool IsBestEpoch(const std::vector<EpochMetrics>& history) {
  if (history.empty() || !(history.back().test_loss == history.back().test_loss)) return false;
  for (size_t i = 0; i + 1 < history.size(); ++i) {
    if (!(history.back().test_loss < history[i].test_loss) &&
        history[i].test_loss == history[i].test_loss) {
      return false;
    }
  }
  return true;
}

std::string EarlyStopReason(const std::vector<EpochMetrics>& history, int64_t patience) {
  if (patience <= 0 || history.empty()) return "";
  size_t best = 0;
  for (size_t i = 1; i < history.size(); ++i) {
    if (history[i].test_loss < history[best].test_loss) best = i;  // NaN never improves.
  }
  const size_t since = history.size() - 1 - best;
  if (static_cast<int64_t>(since) < patience) return "";
  return absl::StrFormat("early stopping: test loss has not improved for %d epochs (best %.4f "
                         "after epoch %d)",
                         since, history[best].test_loss, history[best].epoch);
}

void CountClasses(const Dataset& data, int64_t first, int64_t rows, const int64_t* predicted,
                  Evaluation& evaluation) {
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t label = data.labels[first + r];
    if (label < 0) continue;
    if (static_cast<size_t>(label) >= evaluation.class_total.size()) {
      evaluation.class_total.resize(label + 1, 0);
      evaluation.class_correct.resize(label + 1, 0);
    }
    ++evaluation.class_total[label];
    if (predicted[r] == label) ++evaluation.class_correct[label];
  }
}

std::string FormatPerClassReport(const Evaluation& evaluation) {
  std::string report = absl::StrFormat("Test Loss: %.6f\n\n", evaluation.loss);
  int64_t total = 0, correct = 0;
  for (size_t c = 0; c < evaluation.class_total.size(); ++c) {
    const int64_t n = evaluation.class_total[c], right = evaluation.class_correct[c];
    total += n;
    correct += right;
    if (n == 0) continue;
    absl::StrAppendFormat(&report, "Test Accuracy of %d: %d%% (%d/%d)\n", c, 100 * right / n,
                          right, n);
  }
  if (total > 0) {
    absl::StrAppendFormat(&report, "\nTest Accuracy (Overall): %d%% (%d/%d)\n",
                          100 * correct / total, correct, total);
  }
  return report;
}

std::string FormatEpochLine(const EpochMetrics& metrics, int64_t epochs) {
  auto value = [](double v) { return std::isfinite(v) ? absl::StrFormat("%.4f", v) : "-"; };
  return absl::StrFormat(
      "epoch %d/%d  train_loss %s  test_loss %s  test_acc %s  %.2fs  %.0f samples/s", metrics.epoch,
      epochs, value(metrics.train_loss), value(metrics.test_loss), value(metrics.test_accuracy),
      metrics.seconds, metrics.samples_per_second);
}

std::string MetricsJson(const std::vector<EpochMetrics>& history) {
  std::string json = "{\"epochs\":[";
  for (size_t i = 0; i < history.size(); ++i) {
    const EpochMetrics& m = history[i];
    absl::StrAppend(
        &json, i == 0 ? "" : ",", "{\"epoch\":", m.epoch,
        ",\"train_loss\":", JsonNumber(m.train_loss), ",\"test_loss\":", JsonNumber(m.test_loss),
        ",\"test_accuracy\":", JsonNumber(m.test_accuracy), ",\"seconds\":", JsonNumber(m.seconds),
        ",\"eval_seconds\":", JsonNumber(m.eval_seconds),
        ",\"samples_per_second\":", JsonNumber(m.samples_per_second), "}");
  }
  absl::StrAppend(&json, "]}\n");
  return json;
}

}  // namespace kiln::runtime
