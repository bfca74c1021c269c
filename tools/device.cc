#include "tools/device.h"

#include "absl/strings/str_cat.h"
#include "support/status.h"

#ifdef KILN_HAVE_CUDA
#include "codegen/cuda/cuda_backend.h"
#include "codegen/cuda/program_emitter.h"
#endif

namespace kiln::tools {

absl::Status RequireCpuDevice(const std::string& device) {
  if (device == "cpu") return absl::OkStatus();
  if (device != "cuda") {
    return absl::InvalidArgumentError(
        absl::StrCat("--device must be cpu or cuda, got '", device, "'"));
  }
#ifdef KILN_HAVE_CUDA
  KILN_RETURN_IF_ERROR(cuda::CheckCudaAvailable());
  return absl::UnimplementedError(
      "--device cuda: only `kiln train` runs on CUDA (kernels for other commands: see kiln "
      "compile --device cuda --emit=cuda)");
#else
  return absl::FailedPreconditionError(
      "--device cuda: no CUDA device found (kiln was built without the CUDA toolkit)");
#endif
}

#ifndef KILN_HAVE_CUDA
absl::Status TrainOnCuda(const CommandLine&, bool) {
  return absl::FailedPreconditionError(
      "--device cuda: no CUDA device found (kiln was built without the CUDA toolkit)");
}

absl::Status ProfileOnCuda(const CommandLine&) {
  return absl::FailedPreconditionError(
      "--device cuda: no CUDA device found (kiln was built without the CUDA toolkit)");
}
#endif

absl::StatusOr<std::string> CudaSource(const ir::KernelProgram& program, const std::string& prefix) {
#ifdef KILN_HAVE_CUDA
  KILN_ASSIGN_OR_RETURN(cuda::CudaProgram cuda, cuda::EmitCudaProgram(program, prefix));
  return cuda.source;
#else
  return absl::FailedPreconditionError(
      "--emit=cuda: kiln was built without the CUDA toolkit (NVRTC)");
#endif
}

}  // namespace kiln::tools
