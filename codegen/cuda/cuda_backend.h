// The CUDA backend's entry points for the tools: is a GPU usable, and kernel program -> CUDA C ->
// CUBIN in one call.
//
//   // kiln train --device cuda
//   KILN_RETURN_IF_ERROR(cuda::CheckCudaAvailable());
//   KILN_ASSIGN_OR_RETURN(cuda::CudaBuild build, cuda::BuildCuda(program, "mlp_train_b64", {}));
#ifndef KILN_CODEGEN_CUDA_CUDA_BACKEND_H_
#define KILN_CODEGEN_CUDA_CUDA_BACKEND_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "codegen/cuda/nvrtc_compiler.h"
#include "codegen/cuda/program_emitter.h"

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

}  // namespace kiln::cuda

#endif  // KILN_CODEGEN_CUDA_CUDA_BACKEND_H_
