// `kiln profile FILE --device cuda`: the training (or evaluation) step on the GPU, timed as the
// trainer runs it (input copy, the step's CUDA graph, output readback), then each kernel alone,
// timed with device events, with its achieved GB/s (the bytes its operands and results occupy,
// read or written once) and GFLOP/s. Built only with the CUDA toolkit.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>

#include "absl/strings/str_format.h"
#include "codegen/cpu/jit.h"
#include "codegen/cuda/cuda_backend.h"
#include "frontend/frontend.h"
#include "runtime/cuda/cuda_driver.h"
#include "runtime/cuda/cuda_executable.h"
#include "runtime/executable.h"
#include "support/status.h"
#include "tools/compile_pipeline.h"
#include "tools/device.h"

namespace kiln::tools {

absl::Status ProfileOnCuda(const CommandLine& line) {
  KILN_RETURN_IF_ERROR(cuda::CheckCudaAvailable());
  if (line.positional().size() != 1) {
    return absl::InvalidArgumentError("usage: kiln profile FILE [options] (see kiln --help)");
  }
  KILN_ASSIGN_OR_RETURN(frontend::ModelAst ast, frontend::ParseModelFile(line.positional()[0]));
  KILN_ASSIGN_OR_RETURN(ir::TrainConfig train, frontend::LowerTrainConfig(ast));
  KILN_ASSIGN_OR_RETURN(auto batch, line.Int("batch-size"));
  KILN_ASSIGN_OR_RETURN(auto iterations, line.Int("iterations"));
  const bool training = line.String("mode").value_or("train") != "eval";
  const int n = static_cast<int>(std::max<int64_t>(10, iterations.value_or(500)));

  CompileOptions options;
  options.entries = {{training, batch.value_or(train.batch_size)}};
  KILN_ASSIGN_OR_RETURN(CompiledModel compiled, CompileModel(ast, train, options));
  const std::string symbol = EntrySymbol(compiled.name, compiled.entries[0].request);
  KILN_ASSIGN_OR_RETURN(
      runtime::DeviceProgram device,
      cuda::BuildDeviceProgram({&compiled.entries[0].program}, {symbol}, cuda::NvrtcOptions()));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<cpu::CpuJit> jit, cpu::CpuJit::Create());
  KILN_RETURN_IF_ERROR(jit->AddModule(std::move(compiled.module), std::move(compiled.context)));
  KILN_ASSIGN_OR_RETURN(auto host, runtime::Executable::Create(compiled.spec, *jit, train.seed));
  KILN_ASSIGN_OR_RETURN(runtime::Entry * host_entry,
                        host->FindEntry(training, options.entries[0].batch_size));
  KILN_RETURN_IF_ERROR(FillProfileInputs(*host_entry));
  const std::vector<runtime::DeviceKernel> kernels = device.entries[0].kernels;
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<runtime::CudaContext> gpu, runtime::CudaContext::Create(0));
  KILN_ASSIGN_OR_RETURN(auto executable,
                        runtime::CudaExecutable::Create(*gpu, *host, std::move(device),
                                                        runtime::CudaExecutableOptions()));
  KILN_ASSIGN_OR_RETURN(int entry, executable->FindEntry(training, options.entries[0].batch_size));
  for (int parity = 0; parity < runtime::CudaExecutable::kParities; ++parity) {
    for (const runtime::BufferSpec& b : host_entry->spec().buffers) {
      if (b.role != runtime::BufferRole::kInput) continue;
      KILN_ASSIGN_OR_RETURN(runtime::BufferView view, host_entry->Input(b.name));
      KILN_ASSIGN_OR_RETURN(void* staged, executable->StagedInput(entry, parity, b.name));
      std::memcpy(staged, view.data, b.bytes);
    }
  }

  // Steps back to back with two in flight, as the trainer overlaps them.
  auto run_steps = [&](int steps) -> absl::Status {
    KILN_RETURN_IF_ERROR(executable->Launch(entry, 0));
    for (int i = 1; i < steps; ++i) {
      KILN_RETURN_IF_ERROR(executable->Launch(entry, i % 2));
      KILN_RETURN_IF_ERROR(executable->Wait(entry, (i - 1) % 2));
    }
    return executable->Wait(entry, (steps - 1) % 2);
  };
  KILN_RETURN_IF_ERROR(run_steps(20));  // Captures the graphs, loads the modules.
  const auto start = std::chrono::steady_clock::now();
  KILN_RETURN_IF_ERROR(run_steps(n));
  const double step_us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() /
      n;
  std::cout << absl::StrFormat(
      "%s: %s step, batch %d, %s (cuBLASLt %s): %.1f us/step (%.0f steps/s, CUDA graphs, two "
      "steps in flight)\n\n",
      compiled.name, training ? "training" : "evaluation", options.entries[0].batch_size,
      gpu->device_name(), executable->cublaslt_active() ? "on" : "off", step_us, 1e6 / step_us);

  KILN_ASSIGN_OR_RETURN(std::vector<double> micros, executable->KernelMicroseconds(entry, 0, 50));
  const std::vector<runtime::KernelSpec>& specs = host_entry->spec().kernels;
  const bool have_counts = specs.size() == kernels.size();
  std::cout << absl::StrFormat("%-48s %9s %9s %9s %8s\n", "kernel (alone, median of 50)", "us",
                               "GB/s", "GFLOP/s", "grid");
  double total_us = 0.0, total_bytes = 0.0;
  for (size_t k = 0; k < kernels.size(); ++k) {
    const double bytes = have_counts ? specs[k].bytes : 0.0;
    const double flops = have_counts ? specs[k].flops : 0.0;
    total_us += micros[k];
    total_bytes += bytes;
    std::string name = kernels[k].symbol.substr(std::min(kernels[k].symbol.size(), symbol.size() + 1));
    if (kernels[k].gemm.has_value() && executable->cublaslt_active()) name += " [cuBLASLt]";
    std::cout << absl::StrFormat("%-48s %9.2f %9.1f %9.1f %8d\n", name, micros[k],
                                 bytes / micros[k] / 1e3, flops / micros[k] / 1e3,
                                 kernels[k].grid[0] * kernels[k].grid[1] * kernels[k].grid[2]);
  }
  std::cout << absl::StrFormat(
      "\nsum of kernels %.1f us; %.2f MB moved at %.1f GB/s overall; the step adds %.1f us of "
      "launch and copy time\n",
      total_us, total_bytes / 1e6, total_bytes / total_us / 1e3, step_us - total_us);
  return absl::OkStatus();
}

}  // namespace kiln::tools
