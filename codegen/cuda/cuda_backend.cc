#include "codegen/cuda/cuda_backend.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "codegen/cpu/cpu_backend.h"
#include "runtime/cuda/cuda_driver.h"
#include "runtime/cuda/cuda_executable.h"
#include "runtime/cuda/cuda_trainer.h"
#include "runtime/cuda/device_communicator.h"
#include "support/status.h"

namespace kiln::cuda {
namespace {

// The model on the GPU. The device copy of the persistent tensors is made from the host copy
// when the first step runs, so --init-weights and --resume (which load into host()) reach it.
class CudaLoadedModel : public codegen::LoadedModel {
 public:
  CudaLoadedModel(cpu::HostProgram host, runtime::DeviceProgram device,
                  std::unique_ptr<runtime::CudaContext> gpu)
      : host_(std::move(host)), device_program_(std::move(device)), gpu_(std::move(gpu)) {
    for (const runtime::DeviceEntry& entry : device_program_.entries) {
      kernels_.push_back(entry.kernels);
    }
  }

  runtime::Executable& host() override { return *host_.executable; }

  std::string Describe() const override {
    std::string text = absl::StrCat("CUDA device ", gpu_->device_name());
    if (executable_ != nullptr) {
      absl::StrAppend(&text, ", cuBLASLt ", executable_->cublaslt_active() ? "on" : "off");
    }
    return text;
  }

  absl::StatusOr<std::vector<runtime::EpochMetrics>> Fit(const runtime::Dataset& train,
                                                         const runtime::Dataset& test,
                                                         runtime::TrainOptions options) override {
    KILN_ASSIGN_OR_RETURN(runtime::CudaExecutable * executable, Device());
    if (options.comm != nullptr && options.comm->world_size() > 1 && collectives_ == nullptr) {
      // Every rank reaches this point together (the run's start was agreed): NCCL's set-up is
      // collective.
      KILN_ASSIGN_OR_RETURN(collectives_, runtime::MakeNcclCommunicator(*options.comm));
      KILN_RETURN_IF_ERROR(executable->BindCollectives(collectives_.get()));
    }
    runtime::CudaTrainer trainer(*executable, *host_.executable, std::move(options));
    return trainer.Fit(train, test);
  }

  absl::StatusOr<codegen::StepProfile> Profile(bool training, int64_t batch_size,
                                               int iterations) override;

 private:
  absl::StatusOr<runtime::CudaExecutable*> Device() {
    if (executable_ != nullptr) return executable_.get();
    KILN_ASSIGN_OR_RETURN(executable_, runtime::CudaExecutable::Create(
                                           *gpu_, *host_.executable, std::move(device_program_),
                                           runtime::CudaExecutableOptions()));
    return executable_.get();
  }

  cpu::HostProgram host_;
  runtime::DeviceProgram device_program_;  // Moved into executable_ by Device().
  std::unique_ptr<runtime::CudaContext> gpu_;
  std::unique_ptr<runtime::CudaExecutable> executable_;
  // Data parallelism's gradient all-reduce (NCCL), bound to executable_; destroyed before it.
  std::unique_ptr<runtime::DeviceCommunicator> collectives_;
  std::vector<std::vector<runtime::DeviceKernel>> kernels_;  // Per entry, for the profile.
};

// The step timed as the trainer runs it (input copy, the step's CUDA graph, output readback,
// two steps in flight), then each kernel alone, timed with device events.
absl::StatusOr<codegen::StepProfile> CudaLoadedModel::Profile(bool training, int64_t batch_size,
                                                              int iterations) {
  KILN_ASSIGN_OR_RETURN(runtime::Entry * host_entry,
                        host_.executable->FindEntry(training, batch_size));
  KILN_RETURN_IF_ERROR(codegen::FillProfileInputs(*host_entry));
  KILN_ASSIGN_OR_RETURN(runtime::CudaExecutable * executable, Device());
  KILN_ASSIGN_OR_RETURN(int entry, executable->FindEntry(training, batch_size));
  for (int parity = 0; parity < runtime::CudaExecutable::kParities; ++parity) {
    for (const runtime::BufferSpec& b : host_entry->spec().buffers) {
      if (b.role != runtime::BufferRole::kInput) continue;
      KILN_ASSIGN_OR_RETURN(runtime::BufferView view, host_entry->Input(b.name));
      KILN_ASSIGN_OR_RETURN(void* staged, executable->StagedInput(entry, parity, b.name));
      std::memcpy(staged, view.data, b.bytes);
    }
  }
  auto run_steps = [&](int steps) -> absl::Status {
    KILN_RETURN_IF_ERROR(executable->Launch(entry, 0));
    for (int i = 1; i < steps; ++i) {
      KILN_RETURN_IF_ERROR(executable->Launch(entry, i % 2));
      KILN_RETURN_IF_ERROR(executable->Wait(entry, (i - 1) % 2));
    }
    return executable->Wait(entry, (steps - 1) % 2);
  };
  KILN_RETURN_IF_ERROR(run_steps(20));  // Captures the graphs, loads the modules.
  const int n = std::max(10, iterations);
  const auto start = std::chrono::steady_clock::now();
  KILN_RETURN_IF_ERROR(run_steps(n));
  codegen::StepProfile profile;
  profile.step_microseconds =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() /
      n;
  profile.method = absl::StrCat(gpu_->device_name(), ", cuBLASLt ",
                                executable->cublaslt_active() ? "on" : "off",
                                "; step: CUDA graphs, two steps in flight; kernels: alone, "
                                "median of 50, device events");
  KILN_ASSIGN_OR_RETURN(std::vector<double> micros, executable->KernelMicroseconds(entry, 0, 50));
  const std::vector<runtime::KernelSpec>& specs = host_entry->spec().kernels;
  const std::vector<runtime::DeviceKernel>& kernels = kernels_.at(entry);
  const bool have_counts = specs.size() == kernels.size();
  const std::string& symbol = host_entry->spec().symbol;
  for (size_t k = 0; k < kernels.size(); ++k) {
    codegen::KernelTiming timing;
    timing.name = kernels[k].symbol.substr(std::min(kernels[k].symbol.size(), symbol.size() + 1));
    timing.microseconds = micros[k];
    timing.flops = have_counts ? specs[k].flops : 0.0;
    timing.bytes = have_counts ? specs[k].bytes : 0.0;
    timing.launch = absl::StrCat("grid ", kernels[k].grid[0] * kernels[k].grid[1] * kernels[k].grid[2]);
    if (kernels[k].gemm.has_value() && executable->cublaslt_active()) timing.launch += " [cuBLASLt]";
    profile.kernels.push_back(std::move(timing));
  }
  return profile;
}

}  // namespace

absl::Status CheckCudaAvailable() {
  if (absl::StatusOr<std::string> version = NvrtcVersion(); !version.ok()) {
    return absl::UnavailableError(
        absl::StrCat("--device cuda: NVRTC is not usable (", version.status().message(), ")"));
  }
  if (absl::Status probe = runtime::ProbeCudaDevice(); !probe.ok()) {
    return absl::UnavailableError(absl::StrCat("--device cuda: ", probe.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> DeviceForRank(const runtime::Communicator* data_parallel) {
  if (data_parallel == nullptr || data_parallel->world_size() <= 1) return 0;
  KILN_RETURN_IF_ERROR(runtime::ProbeNccl());
  // One GPU per rank, by the rank's index on its machine (as torchrun's LOCAL_RANK): NCCL
  // refuses two ranks on one GPU.
  KILN_ASSIGN_OR_RETURN(int count, runtime::CudaDeviceCount());
  const int local = data_parallel->local_rank();
  if (local < count) return local;
  return absl::FailedPreconditionError(absl::StrFormat(
      "--device cuda: rank %d is rank %d on its machine, which has %d CUDA device%s; "
      "data-parallel training needs one GPU per rank (start at most %d rank%s per machine)",
      data_parallel->rank(), local, count, count == 1 ? "" : "s", count, count == 1 ? "" : "s"));
}

absl::StatusOr<CudaBuild> BuildCuda(const ir::KernelProgram& program, const std::string& prefix,
                                    const NvrtcOptions& options) {
  CudaBuild build;
  KILN_ASSIGN_OR_RETURN(build.program, EmitCudaProgram(program, prefix));
  KILN_ASSIGN_OR_RETURN(build.image,
                        CompileCuda(build.program.source, options,
                                    absl::StrCat(prefix.empty() ? "kiln" : prefix, ".cu")));
  return build;
}

std::optional<runtime::DeviceGemm> ToDeviceGemm(const GemmPlan& plan) {
  if (!plan.cublaslt_representable) return std::nullopt;
  runtime::DeviceGemm gemm{.m = plan.m, .n = plan.n, .k = plan.k,
                           .transpose_a = plan.transpose_a, .transpose_b = plan.transpose_b,
                           .a_slot = plan.a_slot, .b_slot = plan.b_slot, .c_slot = plan.c_slot,
                           .bias_slot = plan.bias_slot};
  switch (plan.epilogue) {
    case GemmEpilogue::kNone:
      gemm.epilogue = runtime::LtEpilogue::kNone;
      return gemm;
    case GemmEpilogue::kBias:
      gemm.epilogue = runtime::LtEpilogue::kBias;
      return gemm;
    case GemmEpilogue::kRelu:
      gemm.epilogue = runtime::LtEpilogue::kRelu;
      return gemm;
    case GemmEpilogue::kBiasRelu:
      gemm.epilogue = runtime::LtEpilogue::kBiasRelu;
      return gemm;
    case GemmEpilogue::kGeneric:
      return std::nullopt;
  }
  return std::nullopt;
}

runtime::DeviceEntry ToDeviceEntry(const CudaBuild& build) {
  runtime::DeviceEntry entry;
  entry.image = build.image.binary;
  for (const CudaKernel& kernel : build.program.kernels) {
    runtime::DeviceKernel device;
    device.symbol = kernel.name;
    device.param_slots = kernel.param_slots;
    device.grid = {kernel.launch.grid.x, kernel.launch.grid.y, kernel.launch.grid.z};
    device.block = {kernel.launch.block.x, kernel.launch.block.y, kernel.launch.block.z};
    device.shared_bytes = kernel.launch.shared_bytes;
    if (kernel.gemm) device.gemm = ToDeviceGemm(*kernel.gemm);
    device.all_reduce_slot = kernel.all_reduce_slot;
    entry.kernels.push_back(std::move(device));
  }
  return entry;
}

absl::StatusOr<runtime::DeviceProgram> BuildDeviceProgram(
    const std::vector<const ir::KernelProgram*>& programs,
    const std::vector<std::string>& prefixes, const NvrtcOptions& options) {
  if (programs.size() != prefixes.size()) {
    return absl::InvalidArgumentError("BuildDeviceProgram: one prefix per program");
  }
  runtime::DeviceProgram device;
  for (size_t i = 0; i < programs.size(); ++i) {
    KILN_ASSIGN_OR_RETURN(CudaBuild build, BuildCuda(*programs[i], prefixes[i], options));
    device.entries.push_back(ToDeviceEntry(build));
  }
  return device;
}

std::vector<codegen::EmitFormat> CudaBackend::emit_formats() const {
  return {{"cuda", "the CUDA C of every kernel, as NVRTC compiles it", false, "cu"}};
}

absl::StatusOr<std::string> CudaBackend::Emit(const codegen::CompiledModel& model,
                                              std::string_view format,
                                              const codegen::EmitOptions& options) const {
  if (format != "cuda") {
    return absl::InvalidArgumentError(
        absl::StrCat("the cuda backend does not emit '", std::string(format), "'"));
  }
  if (!codegen::IsNativeCpu(options.cpu)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--cpu ", options.cpu, ": --emit=cuda writes no CPU code (--cpu is for llvm, asm, obj)"));
  }
  std::string source;
  for (const codegen::CompiledEntry& entry : model.entries) {
    KILN_ASSIGN_OR_RETURN(CudaProgram program, EmitCudaProgram(entry.program, entry.symbol));
    source += program.source;
  }
  return source;
}

absl::StatusOr<std::unique_ptr<codegen::LoadedModel>> CudaBackend::Load(
    const codegen::CompiledModel& model, const codegen::LoadOptions& options) const {
  KILN_RETURN_IF_ERROR(CheckCudaAvailable());
  std::vector<const ir::KernelProgram*> programs;
  std::vector<std::string> prefixes;
  for (const codegen::CompiledEntry& entry : model.entries) {
    programs.push_back(&entry.program);
    prefixes.push_back(entry.symbol);
  }
  KILN_ASSIGN_OR_RETURN(runtime::DeviceProgram device,
                        BuildDeviceProgram(programs, prefixes, NvrtcOptions()));
  // The CPU build initializes the persistent tensors exactly as a CPU run does; its code (the
  // host copy, checkpoints) is built for --cpu like a CPU run's.
  KILN_ASSIGN_OR_RETURN(cpu::HostProgram host, cpu::LoadOnHost(model, options.seed, options.cpu, options.use_cache));
  KILN_ASSIGN_OR_RETURN(int ordinal, DeviceForRank(options.data_parallel));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<runtime::CudaContext> gpu,
                        runtime::CudaContext::Create(ordinal));
  return std::make_unique<CudaLoadedModel>(std::move(host), std::move(device), std::move(gpu));
}

}  // namespace kiln::cuda
