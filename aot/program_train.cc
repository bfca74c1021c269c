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
#include "runtime/data_parallel.h"
#include "runtime/dataset.h"
#include "runtime/resume.h"
#include "runtime/thread_pool.h"
#include "runtime/train_recipe.h"
#include "runtime/trainer.h"
#include "support/command_line.h"
#include "support/status.h"

namespace kiln::aot {

namespace {

// A program runs on the world it was built for: its steps are compiled for batch_size / ranks
// with the gradient all-reduce (kiln build --ranks N), or for one process. The same error on
// every rank.
absl::Status CheckWorld(const runtime::TrainRecipe& recipe, const runtime::Communicator& world) {
  if (recipe.data_parallel_ranks == world.world_size()) return absl::OkStatus();
  if (recipe.data_parallel_ranks == 1) {
    return runtime::MarkReportedByEveryRank(absl::FailedPreconditionError(absl::StrFormat(
        "this program was built for one process, not %d ranks; rebuild it with kiln build "
        "--ranks %d",
        world.world_size(), world.world_size())));
  }
  return runtime::MarkReportedByEveryRank(absl::FailedPreconditionError(absl::StrFormat(
      "this program was built for %d ranks (kiln build --ranks %d) but runs on %d; start it "
      "with mpirun -np %d",
      recipe.data_parallel_ranks, recipe.data_parallel_ranks, world.world_size(),
      recipe.data_parallel_ranks)));
}

// What each rank loads before training: flags, data, the executable.
struct Loaded {
  runtime::TrainRecipe recipe;
  runtime::DataSplits data;
  std::unique_ptr<runtime::Executable> executable;
  int threads = 0;
};

absl::StatusOr<Loaded> Load(const CommandLine& line, LinkedModel& model,
                            const runtime::Communicator& world) {
  Loaded loaded;
  loaded.recipe = model.recipe();
  KILN_RETURN_IF_ERROR(ApplyRecipeFlags(line, loaded.recipe));
  KILN_ASSIGN_OR_RETURN(loaded.threads, ThreadsFlag(line));
  KILN_ASSIGN_OR_RETURN(loaded.data, runtime::LoadDataset(loaded.recipe.data));
  const runtime::TrainRecipe& recipe = loaded.recipe;
  const int ranks = world.world_size();
  KILN_ASSIGN_OR_RETURN(const int64_t local_batch, runtime::LocalBatch(recipe.batch_size, ranks));
  const int64_t eval_batch = recipe.eval_batch_size > 0 ? recipe.eval_batch_size : local_batch;
  KILN_RETURN_IF_ERROR(model.CheckBatches(
      true, runtime::RankShareSize(loaded.data.train.num_samples, ranks), local_batch));
  KILN_RETURN_IF_ERROR(model.CheckBatches(
      false, runtime::EvaluationShard(loaded.data.test.num_samples, ranks, world.rank()).size(),
      eval_batch));
  KILN_ASSIGN_OR_RETURN(loaded.executable, model.Instantiate(recipe.seed));
  return loaded;
}

}  // namespace

absl::Status TrainProgram(const std::vector<std::string>& args, runtime::Communicator& world) {
  const auto start = std::chrono::steady_clock::now();
  runtime::Communicator* data_parallel = world.world_size() > 1 ? &world : nullptr;
  runtime::StdoutOnRankZero quiet(world);
  KILN_ASSIGN_OR_RETURN(
      CommandLine line,
      CommandLine::Parse(args, {"epochs", "lr", "seed", "metrics-out", "data-dir", "train-limit",
                                "test-limit", "threads", "checkpoint", "init-weights",
                                "save-best", "batch-size"},
                         {"resume", "per-class"}));
  if (!line.positional().empty()) {
    return absl::InvalidArgumentError("usage: train [options] (see --help)");
  }
  const bool resume = line.Has("resume");
  if (resume && !line.Has("checkpoint")) {
    return absl::InvalidArgumentError("--resume needs --checkpoint FILE");
  }
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<LinkedModel> model, LinkedModel::Load());
  KILN_RETURN_IF_ERROR(CheckWorld(model->recipe(), world));
  // Every rank loads on its own; a failure on any rank stops them all at the agreement.
  absl::StatusOr<Loaded> loaded_or = Load(line, *model, world);
  KILN_RETURN_IF_ERROR(runtime::AgreeOnStatus(data_parallel, loaded_or.status()));
  Loaded& loaded = *loaded_or;
  const runtime::TrainRecipe& recipe = loaded.recipe;
  const runtime::DataSplits& data = loaded.data;
  runtime::Executable& executable = *loaded.executable;
  runtime::ThreadPool pool(loaded.threads);
  const double load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << absl::StrFormat(
      "kiln: %s — %d train / %d test samples, batch %d, %s lr %g, %d epochs "
      "(built ahead of time for %s, loaded in %.2fs, %d threads%s)\n",
      recipe.model_name, data.train.num_samples, data.test.num_samples, recipe.batch_size,
      recipe.optimizer, recipe.learning_rate, recipe.epochs, model->bundle().target_cpu,
      load_seconds, pool.num_threads(),
      data_parallel == nullptr
          ? ""
          : absl::StrFormat("; %d ranks (%s) of batch %d", world.world_size(), world.backend(),
                            recipe.batch_size / world.world_size()));

  runtime::TrainOptions run = runtime::TrainOptionsOf(recipe, line);
  const runtime::RankFingerprint fingerprint{
      .kiln_version = model->bundle().kiln_version,
      .graph_hash = runtime::HashBytes(recipe.model_fingerprint),
      .parameter_bytes = runtime::ParameterBytes(executable),
      .global_batch = recipe.batch_size,
      .dataset_size = data.train.num_samples};
  KILN_RETURN_IF_ERROR(
      runtime::StartRun(data_parallel, fingerprint, executable, run, [&]() -> absl::Status {
        KILN_RETURN_IF_ERROR(runtime::LoadInitWeights(recipe, executable, std::cout));
        if (!resume) return absl::OkStatus();
        return runtime::Resume(data.train.num_samples, executable, run);
      }));
  const int64_t first_epoch = run.first_epoch;
  runtime::Trainer trainer(executable, pool, std::move(run));
  KILN_ASSIGN_OR_RETURN(std::vector<runtime::EpochMetrics> history,
                        trainer.Fit(data.train, data.test));
  std::cout << runtime::FinalSummary(history);
  if (data_parallel != nullptr) std::cout << runtime::AllReduceSummary(world, history, first_epoch);
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
