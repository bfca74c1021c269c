#include "codegen/cuda/cuda_backend.h"

#include "absl/strings/str_cat.h"
#include "runtime/cuda/cuda_driver.h"
#include "support/status.h"

namespace kiln::cuda {

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

}  // namespace kiln::cuda
