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
#include "runtime/communicator.h"
#include "runtime/dataset.h"
#include "runtime/executable.h"
#include "runtime/resume.h"
#include "runtime/train_recipe.h"
#include "runtime/trainer.h"
#include "support/status.h"
#include "tools/backend_registry.h"
#include "support/command_line.h"
#include "tools/commands.h"
#include "tools/compile_pipeline.h"
#include "tools/train_plot.h"
#include "tools/train_progress.h"
#include "tools/train_setup.h"
#include "tools/train_tensorboard.h"

namespace kiln::tools {
namespace {

absl::Status Train(std::vector<std::string> args) {
  KILN_ASSIGN_OR_RETURN(std::vector<ModelSetting> settings, TakeModelSettings(args));
  KILN_ASSIGN_OR_RETURN(
      CommandLine line,
      CommandLine::Parse(args, {"epochs", "batch-size", "lr", "seed", "metrics-out", "data-dir",
                                "train-limit", "test-limit", "threads", "checkpoint", "device",
                                "init-weights", "save-best", "tensorboard", "log-every",
                                "eval-batch-size", "cpu", "plot"},
                         {"resume", "per-class", "progress", "quiet", "no-cache"}));
  const bool resume = line.Has("resume");
  // Until data-parallel training lands, N ranks would each train alone and overwrite each other's
  // metrics and checkpoints: refuse instead.
  if (runtime::LaunchedUnderMpi()) {
    return absl::UnimplementedError(
        "kiln train was started with several ranks (mpirun/srun), but data-parallel training is "
        "not built yet (docs/distributed.md); run one process");
  }
  // First, so a machine without the device gets one line and no compile.
  KILN_ASSIGN_OR_RETURN(const codegen::Backend* backend,
                        FindBackend(line.String("device").value_or("cpu")));
  if (resume && !line.Has("checkpoint")) {
    return absl::InvalidArgumentError("--resume needs --checkpoint FILE");
  }
  KILN_ASSIGN_OR_RETURN(auto threads, line.Int("threads"));
  KILN_ASSIGN_OR_RETURN(PreparedTraining prepared, PrepareTraining(line, "train", settings));
  const ir::TrainConfig& train = prepared.train;
  const runtime::DataSplits& data = prepared.data;
  const CompiledModel& compiled = prepared.compiled;
  KILN_ASSIGN_OR_RETURN(
      std::unique_ptr<codegen::LoadedModel> loaded,
      backend->Load(compiled, {.seed = train.seed, .threads = static_cast<int>(threads.value_or(0)),
                               .cpu = line.String("cpu").value_or("native"),
                               .use_cache = !line.Has("no-cache")}));
  KILN_RETURN_IF_ERROR(runtime::LoadInitWeights(prepared.recipe, loaded->host(), std::cout));
  double compile_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                         prepared.compile_start)
                               .count();
  std::cout << absl::StrFormat(
      "kiln: %s — %d train / %d test samples, batch %d, %s lr %g, %d epochs "
      "(compiled %d entry points in %.2fs, %s)\n",
      compiled.name, data.train.num_samples, data.test.num_samples, train.batch_size,
      train.optimizer.kind, train.optimizer.Get("lr", 0.0), train.epochs, compiled.entries.size(),
      compile_seconds, loaded->Describe());

  runtime::TrainOptions run = runtime::TrainOptionsOf(prepared.recipe, line);
  run.unfused_program = UnfusedProgram(prepared);
  if (resume) KILN_RETURN_IF_ERROR(runtime::Resume(data.train.num_samples, loaded->host(), run));
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<TensorBoardLog> tensorboard, AttachTensorBoard(line, run));
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<TrainPlot> plot, AttachPlot(line, run));
  // Outlives the training (the trainer holds a pointer to it); a failed epoch's bar is ended
  // with a newline when it goes, before the error is printed.
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<ProgressBar> progress, AttachProgress(line, run));
  KILN_ASSIGN_OR_RETURN(std::vector<runtime::EpochMetrics> history,
                        loaded->Fit(data.train, data.test, std::move(run)));
  KILN_RETURN_IF_ERROR(TensorBoardStatus(tensorboard));
  KILN_RETURN_IF_ERROR(PlotStatus(plot));
  std::cout << runtime::FinalSummary(history);
  return absl::OkStatus();
}

}  // namespace

int TrainCommand(const std::vector<std::string>& args) {
  return ExitStatus(Train(args));
}

}  // namespace kiln::tools
