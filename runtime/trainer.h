// The training loop: epochs of shuffled batches fed to the compiled training step, then an
// evaluation over the test set, with one line and one metrics record per epoch.
//
//   TrainOptions options;
//   options.epochs = 10; options.batch_size = 64; options.learning_rate = 3e-3;
//   options.log = &std::cout; options.metrics_out = "metrics.json";
//   Trainer trainer(*exe, pool, options);
//   KILN_ASSIGN_OR_RETURN(std::vector<EpochMetrics> history, trainer.Fit(data.train, data.test));
//
// prints   epoch 1/10  train_loss 0.4921  test_loss 0.4012  test_acc 0.8561  3.21s  18690 samples/s
//
// What an entry may take as inputs: ProgramSpec::features_input (f32, batch x D values),
// ProgramSpec::labels_input (i64 class indices; or f32: the data's f32 targets, batch x
// Dataset::target_dim values, when it has them, else its class labels as floats), "kiln.lr"
// (f32 [], the learning rate) and "kiln.rng" (i64 [], a key hashed from (seed, global step), so a
// resumed run reproduces dropout). Outputs it must have: "loss" (f32 [], the batch-mean loss)
// and, for accuracy, "correct" in evaluation entries (f32 [], correct predictions in the batch).
#ifndef KILN_RUNTIME_TRAINER_H_
#define KILN_RUNTIME_TRAINER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/batcher.h"
#include "runtime/dataset.h"
#include "runtime/executable.h"
#include "runtime/thread_pool.h"

namespace kiln::runtime {

class Communicator;

inline constexpr char kLearningRateInput[] = "kiln.lr";
inline constexpr char kRngInput[] = "kiln.rng";
inline constexpr char kLossOutput[] = "loss";
inline constexpr char kCorrectOutput[] = "correct";
inline constexpr char kPredictedOutput[] = "predicted";
inline constexpr char kProbabilitiesOutput[] = "probabilities";
inline constexpr char kValueOutput[] = "value";

struct EpochMetrics {
  int64_t epoch = 0;           // 1-based.
  double train_loss = 0.0;     // Sample-weighted mean of the batch losses.
  double test_loss = 0.0;      // NaN when there is no test set.
  double test_accuracy = 0.0;  // NaN when there is no test set or no "correct" output.
  double seconds = 0.0;        // Training only; evaluation is in eval_seconds.
  double eval_seconds = 0.0;
  double samples_per_second = 0.0;
  int64_t train_samples = 0;
  int64_t steps = 0;
};

// The learning rate per epoch, as torch.optim.lr_scheduler with scheduler.step() once per epoch
// (epoch e, 1-based, trains with the rate after e-1 scheduler steps). A mirror of the compiler's
// ir::ScheduleConfig, so the runtime needs no compiler types.
struct LrSchedule {
  enum class Kind { kConstant, kStep, kExponential, kCosine };
  Kind kind = Kind::kConstant;
  int64_t step_size = 1;  // kStep: lr * gamma^floor((e-1) / step_size)  (StepLR).
  double gamma = 0.1;     // kStep, kExponential: lr * gamma^(e-1)          (ExponentialLR).
  int64_t t_max = 1;      // kCosine: eta_min + (lr - eta_min) * (1 + cos(pi (e-1) / t_max)) / 2.
  double eta_min = 0.0;   //          (CosineAnnealingLR's closed form.)
};

// The schedule's name in model files and settings ("constant", "step", "exponential",
// "cosine"), and back; nullopt for a name that is none of them.
std::string LrScheduleName(LrSchedule::Kind kind);
std::optional<LrSchedule::Kind> FindLrSchedule(const std::string& name);

// The learning rate of `epoch` (1-based) under `schedule`, starting from `base`.
double ScheduledLearningRate(const LrSchedule& schedule, double base, int64_t epoch);

// A setting that shapes a run's trajectory ("lr", "0.003"), recorded in its checkpoints so a
// resume can refuse to continue the run with a different one.
struct RunSetting {
  std::string name;
  std::string value;
};

// Follows each epoch's training step by step, for a display such as kiln train's progress bar.
// The trainers only call it; what is drawn, and where, is the caller's business.
class EpochProgress {
 public:
  virtual ~EpochProgress() = default;
  // Before the epoch's first step; `steps` is the number of steps (batches) it will run.
  virtual void Begin(int64_t epoch, int64_t steps) = 0;
  // After step `step` (1-based within the epoch) with its finite batch-mean loss.
  virtual void Step(int64_t step, double loss) = 0;
  // After the epoch's evaluation, just before its line is logged: erase what was drawn.
  virtual void End() = 0;
};

struct TrainOptions {
  int64_t epochs = 1;
  int64_t batch_size = 64;
  int64_t eval_batch_size = 0;  // 0: batch_size.
  double learning_rate = 0.01;  // Epoch 1's rate; later epochs follow `schedule`.
  LrSchedule schedule;
  uint64_t seed = 0;
  bool shuffle = true;  // The tool copies DataSpec::shuffle here.
  // Resume: start at this epoch, as if epochs 1..first_epoch-1 had run (same shuffles and step
  // keys as an uninterrupted run).
  int64_t first_epoch = 1;
  // Resume: the metrics of epochs 1..first_epoch-1 (from the checkpoint). Fit returns them, and
  // writes them to metrics_out and checkpoints, ahead of the new epochs.
  std::vector<EpochMetrics> history;
  // After every epoch, SaveCheckpoint (runtime/checkpoint.h) to this path; empty: none.
  std::string checkpoint_path;
  // After every epoch whose test loss is the lowest so far, SaveCheckpoint to this path: the
  // model with the best validation loss (W6's fine-tuning), loadable with --init-weights.
  std::string best_checkpoint_path;
  std::string model_name;                             // Recorded in checkpoints.
  std::vector<RunSetting> settings;                   // Recorded in checkpoints.
  std::string metrics_out;                            // Metrics JSON path; empty: none.
  std::ostream* log = nullptr;                        // Receives one line per epoch.
  // After the last epoch, log the test loss and the test accuracy of each class (needs the
  // evaluation entries' "predicted" output: i64 [batch], each sample's predicted class).
  bool per_class_accuracy = false;
  // Stop after the epoch where the test loss has not improved on its best for this many epochs
  // (Keras' EarlyStopping on val_loss, mode min; 0: off). Judged from the history, so a resumed
  // run stops where an uninterrupted one would.
  int64_t early_stopping_patience = 0;
  // Called after each epoch, once its checkpoint is written.
  std::function<void(const EpochMetrics&)> on_epoch;
  // Called after each training step with its (finite) batch-mean loss; `global_step` counts
  // steps from 1 across epochs, so a resumed run's steps follow its checkpoint's. Both trainers
  // read the loss back every step anyway, so this costs nothing when null.
  std::function<void(int64_t global_step, double loss)> on_step;
  // Told of every step of every epoch (not owned; null: none).
  EpochProgress* progress = nullptr;
  // The same program compiled with one op per kernel, built on first call (the tool compiles it
  // only when needed). When a loss or parameter stops being finite, the trainer replays the
  // epoch (or the evaluation batch) on it kernel by kernel, from the state the original started
  // from, and the error names the op that produced the first NaN or infinity. Null: the error
  // names only the step.
  std::function<absl::StatusOr<Executable*>()> unfused_program;
  // Data-parallel training (runtime/data_parallel.h; not owned; null: one process). The program
  // is compiled for the local batch, batch_size / world, with the gradient all-reduce in its
  // step. Each epoch this rank trains on its RankShare of the seeded order and evaluates its
  // EvaluationShard of the test set; losses and accuracy are summed across ranks, so every rank
  // returns the same metrics. After each epoch rank 0's running statistics are broadcast and the
  // parameters' hashes compared, and the ranks meet at a barrier. Which rank prints and writes
  // files is the caller's choice (log, metrics_out, checkpoint paths); the replay
  // (unfused_program) is not used.
  Communicator* comm = nullptr;
};

struct Evaluation {
  double loss = 0.0;
  double accuracy = 0.0;
  double seconds = 0.0;
  // With TrainOptions::per_class_accuracy: per class (the data's label), the test samples of
  // that class and how many of them were predicted right. Empty otherwise.
  std::vector<int64_t> class_total;
  std::vector<int64_t> class_correct;
};

// Whether the last epoch of `history` has the lowest test loss so far (strictly; NaN never).
bool IsBestEpoch(const std::vector<EpochMetrics>& history);

// The early-stopping verdict on `history`: a line saying why training stops, or "" to go on.
std::string EarlyStopReason(const std::vector<EpochMetrics>& history, int64_t patience);

// What a backend's trainer lends the epoch loop that every trainer shares (RunEpochs): one epoch
// of training, one evaluation, the host executable whose persistent tensors checkpoints hold,
// and, for a device backend, the copy that brings them up to date before a checkpoint.
struct EpochBackend {
  std::function<absl::StatusOr<EpochMetrics>(int64_t epoch)> train_epoch;
  std::function<absl::StatusOr<Evaluation>()> evaluate;  // Called only when there is a test set.
  bool has_test_set = false;
  const Executable* host = nullptr;
  std::function<absl::Status()> sync_host;  // Null: the host tensors are current.
};

// Epochs first_epoch..epochs: train, evaluate, log, checkpoint (and the best checkpoint), the
// on_epoch callback, the metrics file, early stopping; then the per-class report. Returns
// options.history followed by the new epochs' metrics. A resumed run (options.history not empty)
// rewrites the metrics file from options.history first, even when no epoch is left to train.
absl::StatusOr<std::vector<EpochMetrics>> RunEpochs(const TrainOptions& options,
                                                   const EpochBackend& backend);

class Trainer {
 public:
  Trainer(Executable& executable, ThreadPool& pool, TrainOptions options);

  // Runs epochs first_epoch..epochs and returns options.history followed by their metrics. A
  // non-finite training or test loss, or a parameter that is not finite after an epoch, stops
  // training with an error ("epoch 2 step 113: loss is nan; first non-finite value (nan)
  // produced by 'log' (h, model.kiln:5:9) in the forward pass", the second half from the
  // replay on TrainOptions::unfused_program); the metrics file and the checkpoint then hold the
  // finished epochs.
  absl::StatusOr<std::vector<EpochMetrics>> Fit(const Dataset& train, const Dataset& test);

  // One epoch of training (no evaluation, no logging); fills everything but the test fields.
  absl::StatusOr<EpochMetrics> TrainEpoch(const Dataset& train, int64_t epoch);

  // Sample-weighted loss and accuracy over `data` with the evaluation entries.
  absl::StatusOr<Evaluation> Evaluate(const Dataset& data);

 private:
  struct Step;
  struct Pass;
  struct Culprit;
  // The batches of one pass over `data` (shuffled for training as epoch `epoch` is) and the
  // entries that run them.
  absl::StatusOr<Pass> PlanPass(bool training, const Dataset& data, int64_t epoch);
  absl::StatusOr<Step> BindStep(bool training, int64_t batch_size, const Dataset& data);
  absl::Status BindInput(const BufferView& view, const Dataset& data, Step& step);
  // Copies batch `batch` into the step's inputs: features, labels, and the data's f32 targets
  // when the step takes them; split across the pool's threads when the batch is large.
  void GatherBatch(const Batcher& batcher, int64_t batch, const Step& step) const;
  // Feeds the per-step scalars: learning rate, step key, f32 labels.
  void FeedStep(const Step& step, int64_t batch_rows, int64_t global_step);
  // Feeds the per-step scalars, runs the entry and returns its loss.
  double RunStep(const Step& step, int64_t batch_rows, int64_t global_step);

  // The error for a non-finite value, `headline` saying where it was seen (step or batch
  // `seen`). With an unfused program, `replay` runs on it (a Trainer of its own) from the
  // epoch's starting state (training) or the current one (evaluation), and the error names
  // what produced the first non-finite value.
  absl::Status NonFiniteError(
      const std::string& headline, int64_t seen, bool from_epoch_start,
      const std::function<absl::StatusOr<std::optional<Culprit>>(Trainer&)>& replay);
  // The second half of NonFiniteError's message: what the replay found.
  absl::StatusOr<std::string> ExplainNonFinite(
      int64_t seen, bool from_epoch_start,
      const std::function<absl::StatusOr<std::optional<Culprit>>(Trainer&)>& replay);
  // Steps of `epoch` kernel by kernel until one produces a non-finite value.
  absl::StatusOr<std::optional<Culprit>> ReplayEpoch(const Dataset& train, int64_t epoch);
  // Evaluation batch `batch` (0-based) kernel by kernel.
  absl::StatusOr<std::optional<Culprit>> ReplayEvaluation(const Dataset& data, int64_t batch);
  // The world size and this rank (1 and 0 without options_.comm).
  int world() const;
  int rank() const;

  Executable& executable_;
  ThreadPool& pool_;
  TrainOptions options_;
  // The pool's table, with the all_reduce hook bound to options_.comm when there is one.
  KilnParallel parallel_;
  double learning_rate_ = 0.0;  // The current epoch's scheduled rate, fed as "kiln.lr".
  int64_t epoch_ = 0;           // The epoch trained last (for evaluation's errors).
  // The persistent tensors' bytes as the epoch started, for the replay; kept only with
  // options_.unfused_program.
  std::vector<std::string> epoch_start_;
};

// "epoch 1/10  train_loss 0.4921  test_loss 0.4012  test_acc 0.8561  3.21s  18690 samples/s"
std::string FormatEpochLine(const EpochMetrics& metrics, int64_t epochs);

// Adds one evaluated batch (samples first..first+rows-1 of `data`, whose predicted classes are
// `predicted`) to evaluation.class_total / class_correct, keyed by the data's labels.
void CountClasses(const Dataset& data, int64_t first, int64_t rows, const int64_t* predicted,
                  Evaluation& evaluation);

// "Test Loss: 0.071234", a blank line, one "Test Accuracy of 7: 98% (1010/1028)" per class
// with samples, and "Test Accuracy (Overall): 97% (1950/2000)" (percentages rounded down).
std::string FormatPerClassReport(const Evaluation& evaluation);

// {"epochs":[{"epoch":1,"train_loss":...,"test_loss":...,"test_accuracy":...,"seconds":...,
//   "eval_seconds":...,"samples_per_second":...},...]}; non-finite values are null.
std::string MetricsJson(const std::vector<EpochMetrics>& history);

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_TRAINER_H_
