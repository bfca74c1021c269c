// `kiln train FILE --device cuda`: the model compiled as for the CPU (the CPU executable is the
// source of truth for the initial parameters and receives the trained ones for checkpoints),
// every entry point's kernels compiled by NVRTC, and the epochs run by runtime::CudaTrainer.
// Built only with the CUDA toolkit (tools/CMakeLists.txt). NOT run on a GPU yet: see
// docs/cuda.md for what has been checked.
//
// DataSpecOf, ApplyOverrides and AddBatchSizes repeat train_command.cc's private helpers of the
// same names (that file's owner keeps them private); keep the two in step until they move into
// a shared header.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "codegen/cpu/jit.h"
#include "codegen/cuda/cuda_backend.h"
#include "frontend/frontend.h"
#include "runtime/cuda/cuda_driver.h"
#include "runtime/cuda/cuda_executable.h"
#include "runtime/cuda/cuda_trainer.h"
#include "runtime/dataset.h"
#include "runtime/executable.h"
#include "support/status.h"
#include "tools/compile_pipeline.h"
#include "tools/device.h"

namespace kiln::tools {
namespace {

runtime::DataSpec DataSpecOf(const ir::DataConfig& data) {
  runtime::DataSpec spec;
  spec.source = data.source;
  spec.path = data.path;
  spec.scale = data.scale;
  spec.mean = data.mean;
  spec.stddev = data.std;
  if (data.train_limit > 0) spec.train_limit = data.train_limit;
  if (data.test_limit > 0) spec.test_limit = data.test_limit;
  spec.shuffle = data.shuffle;
  spec.labels_path = data.labels_path;
  spec.features = data.features;
  spec.label = data.label;
  spec.regression = data.regression;
  spec.params = data.params;
  spec.test_fraction = data.test_fraction;
  spec.standardize = data.standardize;
  spec.one_hot = data.one_hot;
  spec.seed = data.seed;
  return spec;
}

void AddBatchSizes(std::vector<EntryRequest>& entries, bool training, int64_t samples,
                   int64_t batch) {
  if (samples <= 0) return;
  entries.push_back({training, std::min(batch, samples)});
  if (samples > batch && samples % batch != 0) entries.push_back({training, samples % batch});
}

absl::Status ApplyOverrides(const CommandLine& line, ir::TrainConfig& train) {
  KILN_ASSIGN_OR_RETURN(auto epochs, line.Int("epochs"));
  KILN_ASSIGN_OR_RETURN(auto batch, line.Int("batch-size"));
  KILN_ASSIGN_OR_RETURN(auto lr, line.Double("lr"));
  KILN_ASSIGN_OR_RETURN(auto seed, line.Int("seed"));
  KILN_ASSIGN_OR_RETURN(auto train_limit, line.Int("train-limit"));
  KILN_ASSIGN_OR_RETURN(auto test_limit, line.Int("test-limit"));
  if (epochs) train.epochs = *epochs;
  if (batch) train.batch_size = *batch;
  if (lr) train.optimizer.hparams["lr"] = *lr;
  if (seed) train.seed = static_cast<uint64_t>(*seed);
  if (train_limit) train.data.train_limit = *train_limit;
  if (test_limit) train.data.test_limit = *test_limit;
  if (auto dir = line.String("data-dir")) train.data.path = *dir;
  if (train.epochs < 1) return absl::InvalidArgumentError("--epochs must be at least 1");
  if (train.batch_size < 1) return absl::InvalidArgumentError("--batch-size must be at least 1");
  return absl::OkStatus();
}

runtime::LrSchedule ScheduleOf(const ir::ScheduleConfig& schedule) {
  const std::map<std::string, runtime::LrSchedule::Kind> kKinds = {
      {"constant", runtime::LrSchedule::Kind::kConstant},
      {"step", runtime::LrSchedule::Kind::kStep},
      {"exponential", runtime::LrSchedule::Kind::kExponential},
      {"cosine", runtime::LrSchedule::Kind::kCosine}};
  return {.kind = kKinds.at(schedule.kind),
          .step_size = schedule.step_size,
          .gamma = schedule.gamma,
          .t_max = schedule.t_max,
          .eta_min = schedule.eta_min};
}

}  // namespace

absl::Status TrainOnCuda(const CommandLine& line, bool resume) {
  // First, so a machine without a GPU gets one line and no compile.
  KILN_RETURN_IF_ERROR(cuda::CheckCudaAvailable());
  if (line.positional().size() != 1) {
    return absl::InvalidArgumentError("usage: kiln train FILE [options] (see kiln --help)");
  }
  if (resume) {
    return absl::UnimplementedError("--resume is not supported with --device cuda yet");
  }
  KILN_ASSIGN_OR_RETURN(frontend::ModelAst ast, frontend::ParseModelFile(line.positional()[0]));
  KILN_ASSIGN_OR_RETURN(ir::TrainConfig train, frontend::LowerTrainConfig(ast));
  KILN_RETURN_IF_ERROR(ApplyOverrides(line, train));
  KILN_RETURN_IF_ERROR(
      CompileEntryProgram(ast, train, {true, train.batch_size}, CompileOptions()).status());
  KILN_ASSIGN_OR_RETURN(runtime::DataSplits data, runtime::LoadDataset(DataSpecOf(train.data)));

  CompileOptions options;
  AddBatchSizes(options.entries, true, data.train.num_samples, train.batch_size);
  AddBatchSizes(options.entries, false, data.test.num_samples, train.batch_size);
  const auto compile_start = std::chrono::steady_clock::now();
  KILN_ASSIGN_OR_RETURN(CompiledModel compiled, CompileModel(ast, train, options));
  std::vector<const ir::KernelProgram*> programs;
  std::vector<std::string> prefixes;
  for (const CompiledEntry& entry : compiled.entries) {
    programs.push_back(&entry.program);
    prefixes.push_back(EntrySymbol(compiled.name, entry.request));
  }
  KILN_ASSIGN_OR_RETURN(runtime::DeviceProgram device_program,
                        cuda::BuildDeviceProgram(programs, prefixes, cuda::NvrtcOptions()));
  // The CPU executable initializes the persistent tensors exactly as a CPU run does.
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<cpu::CpuJit> jit, cpu::CpuJit::Create());
  KILN_RETURN_IF_ERROR(jit->AddModule(std::move(compiled.module), std::move(compiled.context)));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<runtime::Executable> host,
                        runtime::Executable::Create(compiled.spec, *jit, train.seed));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<runtime::CudaContext> gpu, runtime::CudaContext::Create(0));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<runtime::CudaExecutable> executable,
                        runtime::CudaExecutable::Create(*gpu, *host, std::move(device_program),
                                                        runtime::CudaExecutableOptions()));
  const double compile_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - compile_start).count();
  std::cout << absl::StrFormat(
      "kiln: %s — %d train / %d test samples, batch %d, %s lr %g, %d epochs "
      "(compiled %d entry points in %.2fs, CUDA device %s, cuBLASLt %s)\n",
      compiled.name, data.train.num_samples, data.test.num_samples, train.batch_size,
      train.optimizer.kind, train.optimizer.Get("lr", 0.0), train.epochs,
      compiled.spec.entries.size(), compile_seconds, gpu->device_name(),
      executable->cublaslt_active() ? "on" : "off");

  runtime::TrainOptions run;
  run.epochs = train.epochs;
  run.batch_size = train.batch_size;
  run.learning_rate = train.optimizer.Get("lr", 0.0);
  run.schedule = ScheduleOf(train.schedule);
  run.seed = train.seed;
  run.shuffle = train.data.shuffle;
  run.metrics_out = line.String("metrics-out").value_or("");
  run.checkpoint_path = line.String("checkpoint").value_or("");
  run.model_name = compiled.name;
  run.log = &std::cout;
  runtime::CudaTrainer trainer(*executable, *host, run);
  KILN_ASSIGN_OR_RETURN(std::vector<runtime::EpochMetrics> history,
                        trainer.Fit(data.train, data.test));
  if (!history.empty()) {
    std::cout << absl::StrFormat("final test accuracy %.4f, test loss %.4f\n",
                                 history.back().test_accuracy, history.back().test_loss);
  }
  return absl::OkStatus();
}

}  // namespace kiln::tools
