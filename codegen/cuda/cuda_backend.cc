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

}  // namespace kiln::cuda
