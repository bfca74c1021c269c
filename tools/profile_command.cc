// `kiln profile FILE`: times the compiled training step and each of its kernels, with achieved
// GFLOP/s and GB/s, so fused kernels can be benchmarked one by one (with --device cuda: on the
// GPU, tools/cuda_profile.cc).
#include <algorithm>
#include <chrono>
#include <iostream>

#include "absl/strings/str_format.h"
#include "codegen/cpu/jit.h"
#include "frontend/frontend.h"
#include "runtime/executable.h"
#include "runtime/thread_pool.h"
#include "support/status.h"
#include "tools/command_line.h"
#include "tools/commands.h"
#include "tools/compile_pipeline.h"
#include "tools/device.h"

namespace kiln::tools {
namespace {

using Clock = std::chrono::steady_clock;

// Best of ten rounds: on a shared machine the minimum is the figure that reflects the code.
template <typename Fn>
double MicrosecondsPerCall(int iterations, Fn&& fn) {
  for (int i = 0; i < 3; ++i) fn();  // Warm caches and wake the pool.
  const int per_round = std::max(1, iterations / 10);
  double best = 1e300;
  for (int round = 0; round < 10; ++round) {
    auto start = Clock::now();
    for (int i = 0; i < per_round; ++i) fn();
    double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
    best = std::min(best, us / per_round);
  }
  return best;
}

absl::Status Profile(const std::vector<std::string>& args) {
  KILN_ASSIGN_OR_RETURN(CommandLine line,
                        CommandLine::Parse(args, {"batch-size", "iterations", "threads", "mode", "device"}));
  const std::string device = line.String("device").value_or("cpu");
  if (device == "cuda") return ProfileOnCuda(line);  // tools/cuda_profile.cc
  KILN_RETURN_IF_ERROR(RequireCpuDevice(device));
  if (line.positional().size() != 1) {
    return absl::InvalidArgumentError("usage: kiln profile FILE [options] (see kiln --help)");
  }
  KILN_ASSIGN_OR_RETURN(frontend::ModelAst ast, frontend::ParseModelFile(line.positional()[0]));
  KILN_ASSIGN_OR_RETURN(ir::TrainConfig train, frontend::LowerTrainConfig(ast));
  KILN_ASSIGN_OR_RETURN(auto batch, line.Int("batch-size"));
  KILN_ASSIGN_OR_RETURN(auto iterations, line.Int("iterations"));
  KILN_ASSIGN_OR_RETURN(auto threads, line.Int("threads"));
  bool training = line.String("mode").value_or("train") != "eval";
  int n = static_cast<int>(iterations.value_or(200));

  CompileOptions options;
  options.entries = {{training, batch.value_or(train.batch_size)}};
  KILN_ASSIGN_OR_RETURN(CompiledModel compiled, CompileModel(ast, train, options));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<cpu::CpuJit> jit, cpu::CpuJit::Create());
  KILN_RETURN_IF_ERROR(jit->AddModule(std::move(compiled.module), std::move(compiled.context)));
  KILN_ASSIGN_OR_RETURN(auto executable,
                        runtime::Executable::Create(compiled.spec, *jit, train.seed));
  KILN_ASSIGN_OR_RETURN(runtime::Entry * entry,
                        executable->FindEntry(training, options.entries[0].batch_size));
  KILN_RETURN_IF_ERROR(FillProfileInputs(*entry));
  runtime::ThreadPool pool(threads ? static_cast<int>(*threads) : 0);
  const KilnParallel* parallel = pool.parallel();

  double step_us = MicrosecondsPerCall(n, [&] { entry->Run(parallel); });
  std::cout << absl::StrFormat("%s: %s step, batch %d, %d threads: %.1f us/step (%.0f steps/s)\n\n",
                               compiled.name, training ? "training" : "evaluation",
                               options.entries[0].batch_size, pool.num_threads(), step_us,
                               1e6 / step_us);
  std::cout << absl::StrFormat("%-48s %6s %9s %6s %9s %8s\n", "kernel", "tasks", "us", "%step",
                               "GFLOP/s", "GB/s");
  double total = 0.0;
  for (const runtime::KernelSpec& kernel : entry->spec().kernels) {
    KILN_ASSIGN_OR_RETURN(KilnEntryFn address, jit->Resolve(kernel.symbol));
    auto task = reinterpret_cast<KilnTaskFn>(address);
    void** slots = entry->slots();
    double us = MicrosecondsPerCall(n, [&] {
      if (kernel.parallel) {
        parallel->run(parallel->pool, task, slots, kernel.num_tasks);
      } else {
        task(slots, 0, kernel.num_tasks);
      }
    });
    total += us;
    std::string name = kernel.symbol.substr(entry->spec().symbol.size() + 1);
    std::cout << absl::StrFormat("%-48s %5d%s %9.2f %6.1f %9.2f %8.2f\n", name, kernel.num_tasks,
                                 kernel.parallel ? "*" : " ", us, 100.0 * us / step_us,
                                 kernel.flops / us / 1e3, kernel.bytes / us / 1e3);
  }
  std::cout << absl::StrFormat("\nsum of kernels %.1f us (the step adds %.1f us of dispatch)\n"
                               "* = split across the thread pool\n",
                               total, step_us - total);
  return absl::OkStatus();
}

}  // namespace

absl::Status FillProfileInputs(runtime::Entry& entry) {
  for (const runtime::BufferSpec& buffer : entry.spec().buffers) {
    if (buffer.role != runtime::BufferRole::kInput) continue;
    KILN_ASSIGN_OR_RETURN(runtime::BufferView view, entry.Input(buffer.name));
    for (int64_t i = 0; i < view.num_elements(); ++i) {
      if (buffer.type == runtime::ElementType::kI64) {
        view.i64()[i] = 0;
      } else {
        view.f32()[i] = buffer.name == "kiln.lr" ? 1e-6f : static_cast<float>((i % 17) - 8) / 8.0f;
      }
    }
  }
  return absl::OkStatus();
}

int ProfileCommand(const std::vector<std::string>& args) {
  absl::Status status = Profile(args);
  if (status.ok()) return 0;
  std::cerr << "kiln: " << status.message() << "\n";
  return 1;
}

}  // namespace kiln::tools
