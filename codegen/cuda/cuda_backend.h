// The CUDA backend's entry points for the tools: is a GPU usable, and kernel program -> CUDA C ->
// CUBIN in one call.
//
//   // kiln train --device cuda
//   KILN_RETURN_IF_ERROR(cuda::CheckCudaAvailable());
//   KILN_ASSIGN_OR_RETURN(cuda::CudaBuild build, cuda::BuildCuda(program, "mlp_train_b64", {}));
#ifndef KILN_CODEGEN_CUDA_CUDA_BACKEND_H_
#define KILN_CODEGEN_CUDA_CUDA_BACKEND_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "codegen/cuda/nvrtc_compiler.h"
#include "codegen/cuda/program_emitter.h"
#include "runtime/cuda/device_plan.h"

namespace kiln::cuda {

// OK when NVRTC works and a CUDA device is present; otherwise a one-line error for the user,
// e.g. "--device cuda: no CUDA device found (libcuda.so.1 not loadable: ...)".
absl::Status CheckCudaAvailable();

struct CudaBuild {
  CudaProgram program;  // Source, per-kernel launch records, device memory plan.
  CompiledCuda image;   // The CUBIN (or PTX) of program.source.
};

absl::StatusOr<CudaBuild> BuildCuda(const ir::KernelProgram& program, const std::string& prefix,
                                    const NvrtcOptions& options);

// The runtime's view of a build (runtime/cuda takes no codegen types): the image and, per kernel,
// symbol, parameter slots, launch geometry and, when the plan is representable, the cuBLASLt
// matmul (kGeneric epilogues and kernels storing an intermediate keep the generated GEMM).
runtime::DeviceEntry ToDeviceEntry(const CudaBuild& build);
std::optional<runtime::DeviceGemm> ToDeviceGemm(const GemmPlan& plan);

// One DeviceEntry per kernel program, each compiled by NVRTC (disk-cached), symbols prefixed by
// prefixes[i]: what `kiln train --device cuda` hands to runtime::CudaExecutable.
absl::StatusOr<runtime::DeviceProgram> BuildDeviceProgram(
    const std::vector<const ir::KernelProgram*>& programs,
    const std::vector<std::string>& prefixes, const NvrtcOptions& options);

}  // namespace kiln::cuda

#endif  // KILN_CODEGEN_CUDA_CUDA_BACKEND_H_
