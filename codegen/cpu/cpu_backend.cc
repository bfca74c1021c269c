#include "codegen/cpu/cpu_backend.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "codegen/cpu/cpu_bench.h"
#include "codegen/cpu/llvm_target.h"
#include "codegen/cpu/object_compiler.h"
#include "codegen/cpu/program_emitter.h"
#include "codegen/cpu/vector_isa.h"
#include "runtime/thread_pool.h"
#include "runtime/trainer.h"
#include "support/status.h"

namespace kiln::cpu {
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

// Median microseconds each parallel kernel of `entry` takes inside whole steps, by task function:
// the entry's calls to the pool go through a wrapper that times them. Serial kernels are called
// by the entry directly and are not seen (they are small by construction: kMinParallelElements).
// The median, not the mean, like `kiln bench`: on a shared machine a step that lost its core for
// a while would otherwise raise the figure of every kernel it was running.
std::map<KilnTaskFn, double> InStepMicroseconds(runtime::Entry& entry,
                                                const KilnParallel* parallel, int steps) {
  struct Timer {
    const KilnParallel* pool;
    std::map<KilnTaskFn, std::vector<double>> samples_us;  // One per step.
  } timer{parallel, {}};
  KilnParallel timed = *parallel;
  timed.pool = &timer;
  timed.run = [](void* self, KilnTaskFn fn, void** slots, int64_t num_tasks) {
    auto* t = static_cast<Timer*>(self);
    const auto start = Clock::now();
    t->pool->run(t->pool->pool, fn, slots, num_tasks);
    t->samples_us[fn].push_back(
        std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  };
  for (int i = 0; i < 3; ++i) entry.Run(parallel);  // Warm caches and wake the pool.
  for (int i = 0; i < steps; ++i) entry.Run(&timed);
  std::map<KilnTaskFn, double> median_us;
  for (auto& [fn, samples] : timer.samples_us) {
    auto middle = samples.begin() + samples.size() / 2;
    std::nth_element(samples.begin(), middle, samples.end());
    median_us[fn] = *middle;
  }
  return median_us;
}

class CpuLoadedModel : public codegen::LoadedModel {
 public:
  CpuLoadedModel(HostProgram program, int threads)
      : program_(std::move(program)), pool_(threads) {}

  runtime::Executable& host() override { return *program_.executable; }

  std::string Describe() const override { return absl::StrCat(pool_.num_threads(), " threads"); }

  absl::StatusOr<std::vector<runtime::EpochMetrics>> Fit(const runtime::Dataset& train,
                                                         const runtime::Dataset& test,
                                                         runtime::TrainOptions options) override {
    runtime::Trainer trainer(*program_.executable, pool_, std::move(options));
    return trainer.Fit(train, test);
  }

  absl::StatusOr<codegen::StepProfile> Profile(bool training, int64_t batch_size,
                                               int iterations) override {
    KILN_ASSIGN_OR_RETURN(runtime::Entry * entry,
                          program_.executable->FindEntry(training, batch_size));
    KILN_RETURN_IF_ERROR(codegen::FillProfileInputs(*entry));
    const KilnParallel* parallel = pool_.parallel();
    codegen::StepProfile profile;
    const int in_step_runs = std::max(1, iterations / 4);
    profile.method =
        absl::StrCat(pool_.num_threads(), " threads, best of 10 rounds; 'in step': median of ",
                     in_step_runs, " whole steps; * = split across the thread pool");
    profile.step_microseconds = MicrosecondsPerCall(iterations, [&] { entry->Run(parallel); });
    const std::map<KilnTaskFn, double> in_step = InStepMicroseconds(*entry, parallel, in_step_runs);
    for (const runtime::KernelSpec& kernel : entry->spec().kernels) {
      KILN_ASSIGN_OR_RETURN(KilnEntryFn address, program_.jit->Resolve(kernel.symbol));
      auto task = reinterpret_cast<KilnTaskFn>(address);
      void** slots = entry->slots();
      codegen::KernelTiming timing;
      timing.name = kernel.symbol.substr(entry->spec().symbol.size() + 1);
      timing.flops = kernel.flops;
      timing.bytes = kernel.bytes;
      timing.launch = absl::StrCat(kernel.num_tasks, kernel.parallel ? " tasks*" : " tasks");
      if (auto it = in_step.find(task); it != in_step.end()) {
        timing.in_step_microseconds = it->second;
      }
      timing.microseconds = MicrosecondsPerCall(iterations, [&] {
        if (kernel.parallel) {
          parallel->run(parallel->pool, task, slots, kernel.num_tasks);
        } else {
          task(slots, 0, kernel.num_tasks);
        }
      });
      profile.kernels.push_back(std::move(timing));
    }
    return profile;
  }

  absl::StatusOr<codegen::StepSamples> Benchmark(bool training, int64_t batch_size,
                                                 const codegen::BenchOptions& options) override {
    KILN_ASSIGN_OR_RETURN(runtime::Entry * entry,
                          program_.executable->FindEntry(training, batch_size));
    KILN_RETURN_IF_ERROR(codegen::FillProfileInputs(*entry));
    const KilnParallel* parallel = pool_.parallel();
    CacheEvictor evictor(options.cold_cache ? options.evict_bytes : 0);
    codegen::StepSamples samples;
    samples.device = Describe();
    samples.step_microseconds =
        SampleMicroseconds(options, evictor, parallel, [&] { entry->Run(parallel); });
    for (const runtime::KernelSpec& kernel : entry->spec().kernels) {
      KILN_ASSIGN_OR_RETURN(KilnEntryFn address, program_.jit->Resolve(kernel.symbol));
      auto task = reinterpret_cast<KilnTaskFn>(address);
      void** slots = entry->slots();
      codegen::KernelSamples timing;
      timing.name = kernel.symbol.substr(entry->spec().symbol.size() + 1);
      timing.flops = kernel.flops;
      timing.bytes = static_cast<double>(kernel.bytes);
      timing.launch = absl::StrCat(kernel.num_tasks, kernel.parallel ? " tasks*" : " tasks");
      timing.microseconds = SampleMicroseconds(options, evictor, parallel, [&] {
        if (kernel.parallel) {
          parallel->run(parallel->pool, task, slots, kernel.num_tasks);
        } else {
          task(slots, 0, kernel.num_tasks);
        }
      });
      samples.kernels.push_back(std::move(timing));
    }
    return samples;
  }

  absl::Status RunOnceOnHost(bool training, int64_t batch_size) override {
    KILN_ASSIGN_OR_RETURN(runtime::Entry * entry,
                          program_.executable->FindEntry(training, batch_size));
    KILN_RETURN_IF_ERROR(codegen::FillProfileInputs(*entry));
    entry->Run(pool_.parallel());
    return absl::OkStatus();
  }

 private:
  HostProgram program_;
  runtime::ThreadPool pool_;
};

}  // namespace

absl::StatusOr<CpuModule> EmitCpuModule(const codegen::CompiledModel& model,
                                        const std::string& cpu) {
  CpuModule out;
  KILN_ASSIGN_OR_RETURN(out.target, CreateTargetMachine(cpu));
  const VectorIsa isa = VectorIsaOf(*out.target);
  out.context = std::make_unique<llvm::LLVMContext>();
  out.module = std::make_unique<llvm::Module>(model.name, *out.context);
  out.spec.persistent = model.persistent;
  out.spec.features_input = model.features_input;
  out.spec.labels_input = model.labels_input;
  for (const codegen::CompiledEntry& compiled : model.entries) {
    KILN_ASSIGN_OR_RETURN(runtime::EntrySpec entry,
                          EmitEntryPoint(*out.module, compiled.program, compiled.symbol, isa));
    entry.training = compiled.request.training;
    entry.batch_size = compiled.request.batch_size;
    out.spec.entries.push_back(std::move(entry));
  }
  KILN_RETURN_IF_ERROR(OptimizeModule(*out.module, *out.target));
  return out;
}

namespace {

ObjectOptions CompileOptionsFor(const std::string& cpu, bool use_cache) {
  ObjectOptions options;
  options.cpu = cpu;
  if (use_cache) options.cache = CodeCache::FromEnvironment();
  return options;
}

}  // namespace

absl::StatusOr<HostProgram> LoadOnHost(const codegen::CompiledModel& model, uint64_t seed,
                                       const std::string& cpu, bool use_cache) {
  // Before generating any code: a CPU this machine cannot run is the user's error, not a crash.
  KILN_ASSIGN_OR_RETURN(auto target, CreateTargetMachine(cpu));
  KILN_RETURN_IF_ERROR(CheckRunsOnHost(*target));
  KILN_ASSIGN_OR_RETURN(CpuObjects code, CompileObjects(model, CompileOptionsFor(cpu, use_cache)));
  HostProgram program;
  KILN_ASSIGN_OR_RETURN(program.jit, CpuJit::Create(*code.target));
  for (const std::string& object : code.objects) KILN_RETURN_IF_ERROR(program.jit->AddObject(object));
  KILN_ASSIGN_OR_RETURN(program.executable,
                        runtime::Executable::Create(std::move(code.spec), *program.jit, seed));
  return program;
}

absl::StatusOr<codegen::MachinePeak> CpuBackend::MeasurePeak(int threads,
                                                             const std::string& cpu) const {
  runtime::ThreadPool pool(threads);
  return MeasureHostPeak(pool.parallel(), pool.num_threads(), cpu);
}

std::vector<codegen::EmitFormat> CpuBackend::emit_formats() const {
  return {
      {"llvm", "the optimized LLVM IR of every kernel and entry point", false, "ll"},
      {"asm", "assembly for the target CPU (--cpu)", false, "s"},
      {"obj", "an object file (written to -o, default <model>.o)", true, "o"},
  };
}

absl::StatusOr<std::string> CpuBackend::Emit(const codegen::CompiledModel& model,
                                             std::string_view format,
                                             const codegen::EmitOptions& options) const {
  OutputKind kind;
  if (format == "llvm") {
    kind = OutputKind::kLlvmIr;
  } else if (format == "asm") {
    kind = OutputKind::kAssembly;
  } else if (format == "obj") {
    kind = OutputKind::kObject;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("the cpu backend does not emit '", std::string(format), "'"));
  }
  if (kind == OutputKind::kObject) {
    KILN_ASSIGN_OR_RETURN(CpuObjects code,
                          CompileObjects(model, CompileOptionsFor(options.cpu, options.use_cache)));
    return MergeObjects(code.objects);
  }
  KILN_ASSIGN_OR_RETURN(CpuModule module, EmitCpuModule(model, options.cpu));
  return EmitModule(*module.module, *module.target, kind);
}

absl::StatusOr<std::unique_ptr<codegen::LoadedModel>> CpuBackend::Load(
    const codegen::CompiledModel& model, const codegen::LoadOptions& options) const {
  KILN_ASSIGN_OR_RETURN(HostProgram program,
                        LoadOnHost(model, options.seed, options.cpu, options.use_cache));
  return std::make_unique<CpuLoadedModel>(std::move(program), options.threads);
}

}  // namespace kiln::cpu
