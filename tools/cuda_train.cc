// `kiln train FILE --device cuda`: the model compiled as for the CPU (the CPU executable is the
// source of truth for the initial parameters and receives the trained ones for checkpoints),
// every entry point's kernels compiled by NVRTC, and the epochs run by runtime::CudaTrainer.
// Built only with the CUDA toolkit (tools/CMakeLists.txt). NOT run on a GPU yet: see
// docs/cuda.md for what has been checked.
//
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
#include "tools/train_setup.h"

namespace kiln::tools {

absl::Status TrainOnCuda(const CommandLine& line, bool resume) {
  // First, so a machine without a GPU gets one line and no compile.
  KILN_RETURN_IF_ERROR(cuda::CheckCudaAvailable());
  if (resume) {
    return absl::UnimplementedError("--resume is not supported with --device cuda yet");
  }
  KILN_ASSIGN_OR_RETURN(PreparedTraining prepared, PrepareTraining(line));
  const ir::TrainConfig& train = prepared.train;
  const runtime::DataSplits& data = prepared.data;
  CompiledModel& compiled = prepared.compiled;
  const auto compile_start = prepared.compile_start;
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
  KILN_RETURN_IF_ERROR(LoadInitWeights(prepared, *host, std::cout));
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

  runtime::TrainOptions run = TrainOptionsOf(line, train, compiled.name);
  run.settings = prepared.settings;
  runtime::CudaTrainer trainer(*executable, *host, run);
  KILN_ASSIGN_OR_RETURN(std::vector<runtime::EpochMetrics> history,
                        trainer.Fit(data.train, data.test));
  std::cout << FinalSummary(history);
  return absl::OkStatus();
}

}  // namespace kiln::tools
