// `kiln profile FILE`: times the compiled step and each of its kernels on the selected backend,
// with achieved GFLOP/s and GB/s, so fused kernels can be benchmarked one by one.
#include <algorithm>
#include <iostream>

#include "absl/strings/str_format.h"
#include "frontend/frontend.h"
#include "support/status.h"
#include "tools/backend_registry.h"
#include "support/command_line.h"
#include "tools/commands.h"
#include "tools/compile_pipeline.h"

namespace kiln::tools {
namespace {

absl::Status Profile(const std::vector<std::string>& args) {
  KILN_ASSIGN_OR_RETURN(
      CommandLine line,
      CommandLine::Parse(args, {"batch-size", "iterations", "threads", "mode", "device", "cpu"},
                         {"data-parallel"}));
  KILN_ASSIGN_OR_RETURN(const codegen::Backend* backend,
                        FindBackend(line.String("device").value_or("cpu")));
  if (line.positional().size() != 1) {
    return absl::InvalidArgumentError("usage: kiln profile FILE [options] (see kiln --help)");
  }
  KILN_ASSIGN_OR_RETURN(frontend::ModelAst ast, frontend::ParseModelFile(line.positional()[0]));
  KILN_ASSIGN_OR_RETURN(ir::TrainConfig train, frontend::LowerTrainConfig(ast));
  // One rank's step of a data-parallel run (the all-reduce itself is the identity here).
  train.data_parallel = line.Has("data-parallel");
  KILN_ASSIGN_OR_RETURN(auto batch, line.Int("batch-size"));
  KILN_ASSIGN_OR_RETURN(auto iterations, line.Int("iterations"));
  KILN_ASSIGN_OR_RETURN(auto threads, line.Int("threads"));
  const bool training = line.String("mode").value_or("train") != "eval";
  const int n = static_cast<int>(std::max<int64_t>(1, iterations.value_or(200)));

  CompileOptions options;
  options.entries = {{training, batch.value_or(train.batch_size)}};
  options.fusion.windowed_gemm_operands = backend->ReadsWindowedGemmOperands();
  const int64_t batch_size = options.entries[0].batch_size;
  KILN_ASSIGN_OR_RETURN(CompiledModel compiled, CompileModel(ast, train, options));
  KILN_ASSIGN_OR_RETURN(
      std::unique_ptr<codegen::LoadedModel> loaded,
      backend->Load(compiled, {.seed = train.seed,
                               .threads = static_cast<int>(threads.value_or(0)),
                               .cpu = line.String("cpu").value_or("native")}));
  KILN_ASSIGN_OR_RETURN(codegen::StepProfile profile, loaded->Profile(training, batch_size, n));

  const double step_us = profile.step_microseconds;
  std::cout << absl::StrFormat("%s: %s step, batch %d, %s: %.1f us/step (%.0f steps/s)\n",
                               compiled.name, training ? "training" : "evaluation", batch_size,
                               loaded->Describe(), step_us, 1e6 / step_us);
  std::cout << "(" << profile.method << ")\n\n";
  std::cout << absl::StrFormat("%-48s %16s %9s %6s %9s %8s %9s\n", "kernel", "launch", "us",
                               "%step", "GFLOP/s", "GB/s", "in step");
  double total = 0.0, in_step_total = 0.0;
  for (const codegen::KernelTiming& kernel : profile.kernels) {
    const double us = kernel.microseconds;
    total += us;
    std::string in_step = "-";
    if (kernel.in_step_microseconds >= 0) {
      in_step_total += kernel.in_step_microseconds;
      in_step = absl::StrFormat("%.2f", kernel.in_step_microseconds);
    }
    std::cout << absl::StrFormat("%-48s %16s %9.2f %6.1f %9.2f %8.2f %9s\n", kernel.name,
                                 kernel.launch, us, 100.0 * us / step_us, kernel.flops / us / 1e3,
                                 kernel.bytes / us / 1e3, in_step);
  }
  // The step takes longer than its kernels alone: dispatch, and memory-bound kernels that find
  // their operands wherever the kernels before them left them, not in a cache they warmed.
  std::cout << absl::StrFormat("\nsum of kernels %.1f us alone; the step takes %.1f us more\n",
                               total, step_us - total);
  if (in_step_total > 0) {
    std::cout << absl::StrFormat(
        "sum of 'in step' %.1f us (kernels timed inside whole steps; '-': not timed there)\n",
        in_step_total);
  }
  return absl::OkStatus();
}

}  // namespace

int ProfileCommand(const std::vector<std::string>& args) {
  return ExitStatus(Profile(args));
}

}  // namespace kiln::tools
