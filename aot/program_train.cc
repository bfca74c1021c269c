// `PROGRAM train` and `PROGRAM eval`: kiln train's loop, output lines, metrics JSON and
// checkpoints over the linked code, for the data source the model file names.
#include <chrono>
#include <iostream>
#include <memory>

#include "absl/strings/str_format.h"
#include "aot/linked_model.h"
#include "aot/program_commands.h"
#include "aot/program_flags.h"
#include "runtime/checkpoint.h"
#include "runtime/communicator.h"
#include "runtime/dataset.h"
#include "runtime/resume.h"
#include "runtime/thread_pool.h"
#include "runtime/train_recipe.h"
#include "runtime/trainer.h"
#include "support/command_line.h"
#include "support/status.h"

namespace kiln::aot {

absl::Status TrainProgram(const std::vector<std::string>& args) {
  const auto start = std::chrono::steady_clock::now();
  KILN_ASSIGN_OR_RETURN(
      CommandLine line,
      CommandLine::Parse(args, {"epochs", "lr", "seed", "metrics-out", "data-dir", "train-limit",
                                "test-limit", "threads", "checkpoint", "init-weights",
                                "save-best", "batch-size"},
                         {"resume", "per-class"}));
  if (!line.positional().empty()) {
    return absl::InvalidArgumentError("usage: train [options] (see --help)");
  }
  // Programs link no MPI (only the kiln command does): N ranks would each train alone and
  // overwrite each other's metrics and checkpoints.
  if (runtime::LaunchedUnderMpi()) {
    return absl::UnimplementedError(
        "started with several ranks (mpirun/srun), but built programs do not train "
        "data-parallel yet; run `mpirun -np N kiln train FILE` (docs/distributed.md)");
  }
  const bool resume = line.Has("resume");
  if (resume && !line.Has("checkpoint")) {
    return absl::InvalidArgumentError("--resume needs --checkpoint FILE");
  }
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<LinkedModel> model, LinkedModel::Load());
  runtime::TrainRecipe recipe = model->recipe();
  KILN_RETURN_IF_ERROR(ApplyRecipeFlags(line, recipe));
  KILN_ASSIGN_OR_RETURN(int threads, ThreadsFlag(line));
  KILN_ASSIGN_OR_RETURN(runtime::DataSplits data, runtime::LoadDataset(recipe.data));
  const int64_t eval_batch = recipe.eval_batch_size > 0 ? recipe.eval_batch_size
                                                        : recipe.batch_size;
  KILN_RETURN_IF_ERROR(model->CheckBatches(true, data.train.num_samples, recipe.batch_size));
  KILN_RETURN_IF_ERROR(model->CheckBatches(false, data.test.num_samples, eval_batch));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<runtime::Executable> executable,
                        model->Instantiate(recipe.seed));
  KILN_RETURN_IF_ERROR(runtime::LoadInitWeights(recipe, *executable, std::cout));
  runtime::ThreadPool pool(threads);
  const double load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << absl::StrFormat(
      "kiln: %s — %d train / %d test samples, batch %d, %s lr %g, %d epochs "
      "(built ahead of time for %s, loaded in %.2fs, %d threads)\n",
      recipe.model_name, data.train.num_samples, data.test.num_samples, recipe.batch_size,
      recipe.optimizer, recipe.learning_rate, recipe.epochs, model->bundle().target_cpu,
      load_seconds, pool.num_threads());

  runtime::TrainOptions run = runtime::TrainOptionsOf(recipe, line);
  if (resume) KILN_RETURN_IF_ERROR(runtime::Resume(data.train.num_samples, *executable, run));
  runtime::Trainer trainer(*executable, pool, std::move(run));
  KILN_ASSIGN_OR_RETURN(std::vector<runtime::EpochMetrics> history,
                        trainer.Fit(data.train, data.test));
  std::cout << runtime::FinalSummary(history);
  return absl::OkStatus();
}

absl::Status EvalProgram(const std::vector<std::string>& args) {
  KILN_ASSIGN_OR_RETURN(CommandLine line,
                        CommandLine::Parse(args, {"weights", "data-dir", "test-limit", "threads"},
                                           {"per-class"}));
  if (!line.positional().empty() || !line.Has("weights")) {
    return absl::InvalidArgumentError("usage: eval --weights FILE [options] (see --help)");
  }
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<LinkedModel> model, LinkedModel::Load());
  runtime::TrainRecipe recipe = model->recipe();
  KILN_RETURN_IF_ERROR(ApplyRecipeFlags(line, recipe));
  KILN_ASSIGN_OR_RETURN(int threads, ThreadsFlag(line));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<runtime::Executable> executable,
                        model->Instantiate(recipe.seed));
  KILN_RETURN_IF_ERROR(runtime::LoadWeights(*line.String("weights"), recipe, *executable));
  KILN_ASSIGN_OR_RETURN(runtime::DataSplits data, runtime::LoadDataset(recipe.data));
  if (data.test.num_samples == 0) {
    return absl::InvalidArgumentError("the data source gives no test samples to evaluate");
  }
  runtime::TrainOptions options = runtime::TrainOptionsOf(recipe, line);
  KILN_RETURN_IF_ERROR(model->CheckBatches(
      false, data.test.num_samples,
      options.eval_batch_size > 0 ? options.eval_batch_size : options.batch_size));
  runtime::ThreadPool pool(threads);
  const bool per_class = options.per_class_accuracy;
  runtime::Trainer trainer(*executable, pool, std::move(options));
  KILN_ASSIGN_OR_RETURN(runtime::Evaluation evaluation, trainer.Evaluate(data.test));
  std::cout << absl::StrFormat("test_loss %.4f", evaluation.loss);
  if (!std::isnan(evaluation.accuracy)) {
    std::cout << absl::StrFormat("  test_acc %.4f", evaluation.accuracy);
  }
  std::cout << absl::StrFormat("  (%d test samples)\n", data.test.num_samples);
  if (per_class) std::cout << runtime::FormatPerClassReport(evaluation);
  return absl::OkStatus();
}

}  // namespace kiln::aot
