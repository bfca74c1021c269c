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
#include "runtime/mpi/mpi_communicator.h"
#include "runtime/data_parallel.h"
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
#include "tools/version_line.h"

namespace kiln::tools {
namespace {

absl::Status Train(std::vector<std::string> args, runtime::Communicator& world) {
  // Launched by mpirun/srun with several ranks, this process is one rank of a data-parallel run.
  runtime::Communicator* data_parallel = world.world_size() > 1 ? &world : nullptr;
  const bool root = world.rank() == 0;
  runtime::StdoutOnRankZero quiet(world);
  KILN_ASSIGN_OR_RETURN(std::vector<ModelSetting> settings, TakeModelSettings(args));
  KILN_ASSIGN_OR_RETURN(
      CommandLine line,
      CommandLine::Parse(args, {"epochs", "batch-size", "lr", "seed", "metrics-out", "data-dir",
                                "train-limit", "test-limit", "threads", "checkpoint", "device",
                                "init-weights", "save-best", "tensorboard", "log-every",
                                "eval-batch-size", "cpu", "plot"},
                         {"resume", "per-class", "progress", "quiet", "no-cache"}));
  const bool resume = line.Has("resume");
  // First, so a machine without the device gets one line and no compile.
  KILN_ASSIGN_OR_RETURN(const codegen::Backend* backend,
                        FindBackend(line.String("device").value_or("cpu")));
  if (resume && !line.Has("checkpoint")) {
    return absl::InvalidArgumentError("--resume needs --checkpoint FILE");
  }
  KILN_ASSIGN_OR_RETURN(auto threads, line.Int("threads"));
  // Every rank prepares, loads and (rank 0) initializes on its own; a failure on any rank stops
  // them all at the next agreement instead of leaving the others in a collective.
  absl::StatusOr<PreparedTraining> prepared_or =
      PrepareTraining(line, "train", settings, {world.world_size(), world.rank()});
  KILN_RETURN_IF_ERROR(runtime::AgreeOnStatus(data_parallel, prepared_or.status()));
  PreparedTraining& prepared = *prepared_or;
  const ir::TrainConfig& train = prepared.train;
  const runtime::DataSplits& data = prepared.data;
  const CompiledModel& compiled = prepared.compiled;
  absl::StatusOr<std::unique_ptr<codegen::LoadedModel>> loaded_or = backend->Load(
      compiled, {.seed = train.seed, .threads = static_cast<int>(threads.value_or(0)),
                 .cpu = line.String("cpu").value_or("native"),
                 .use_cache = !line.Has("no-cache"), .data_parallel = data_parallel});
  KILN_RETURN_IF_ERROR(runtime::AgreeOnStatus(data_parallel, loaded_or.status()));
  codegen::LoadedModel& loaded = **loaded_or;
  double compile_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                         prepared.compile_start)
                               .count();
  std::cout << absl::StrFormat(
      "kiln: %s — %d train / %d test samples, batch %d, %s lr %g, %d epochs "
      "(compiled %d entry points in %.2fs, %s%s)\n",
      compiled.name, data.train.num_samples, data.test.num_samples, train.batch_size,
      train.optimizer.kind, train.optimizer.Get("lr", 0.0), train.epochs, compiled.entries.size(),
      compile_seconds, loaded.Describe(),
      data_parallel == nullptr
          ? ""
          : absl::StrFormat("; %d ranks (%s) of batch %d", world.world_size(), world.backend(),
                            train.batch_size / world.world_size()));

  runtime::TrainOptions run = runtime::TrainOptionsOf(prepared.recipe, line);
  if (data_parallel == nullptr) run.unfused_program = UnfusedProgram(prepared);
  const runtime::RankFingerprint fingerprint{
      .kiln_version = VersionLine(),
      .graph_hash = runtime::HashBytes(prepared.recipe.model_fingerprint),
      .parameter_bytes = runtime::ParameterBytes(loaded.host()),
      .global_batch = train.batch_size,
      .dataset_size = data.train.num_samples};
  // Rank 0 loads --init-weights and the checkpoint to resume; StartRun sends them on.
  KILN_RETURN_IF_ERROR(
      runtime::StartRun(data_parallel, fingerprint, loaded.host(), run, [&]() -> absl::Status {
        KILN_RETURN_IF_ERROR(runtime::LoadInitWeights(prepared.recipe, loaded.host(), std::cout));
        if (!resume) return absl::OkStatus();
        return runtime::Resume(data.train.num_samples, loaded.host(), run);
      }));
  std::shared_ptr<TensorBoardLog> tensorboard;
  std::shared_ptr<TrainPlot> plot;
  std::unique_ptr<ProgressBar> progress;  // Outlives the training (the trainer points at it).
  if (root) {
    KILN_ASSIGN_OR_RETURN(tensorboard, AttachTensorBoard(line, run));
    KILN_ASSIGN_OR_RETURN(plot, AttachPlot(line, run));
    // A failed epoch's bar is ended with a newline when it goes, before the error is printed.
    KILN_ASSIGN_OR_RETURN(progress, AttachProgress(line, run));
  }
  const int64_t run_first_epoch = run.first_epoch;
  KILN_ASSIGN_OR_RETURN(std::vector<runtime::EpochMetrics> history,
                        loaded.Fit(data.train, data.test, std::move(run)));
  KILN_RETURN_IF_ERROR(TensorBoardStatus(tensorboard));
  KILN_RETURN_IF_ERROR(PlotStatus(plot));
  std::cout << runtime::FinalSummary(history);
  if (data_parallel != nullptr) {
    std::cout << runtime::AllReduceSummary(world, history, run_first_epoch);
  }
  return absl::OkStatus();
}

}  // namespace

int TrainCommand(const std::vector<std::string>& args) {
  absl::StatusOr<std::unique_ptr<runtime::Communicator>> world = runtime::MakeLaunchCommunicator();
  if (!world.ok()) return ExitStatus(world.status());
  return runtime::FinishRank(**world, Train(args, **world), ExitStatus);
}

}  // namespace kiln::tools
