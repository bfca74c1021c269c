// The CUDA backend: kernel programs -> CUDA C -> NVRTC (CUBIN) -> runtime::CudaExecutable, with
// cuBLASLt GEMMs and CUDA-graph replay; the host copy of the parameters is a CPU build of the same
// model (cpu::LoadOnHost), which initializes them exactly as a CPU run does.
//
//   cuda::CudaBackend backend;                  // `kiln train --device cuda`
//   KILN_RETURN_IF_ERROR(backend.CheckAvailable());
//   KILN_ASSIGN_OR_RETURN(auto loaded, backend.Load(model, {.seed = 1}));
#ifndef KILN_CODEGEN_CUDA_CUDA_BACKEND_H_
#define KILN_CODEGEN_CUDA_CUDA_BACKEND_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "codegen/backend.h"
#include "codegen/cuda/nvrtc_compiler.h"
#include "codegen/cuda/program_emitter.h"
#include "runtime/cuda/device_plan.h"

namespace kiln::cuda {

// OK when NVRTC works and a CUDA device is present; otherwise a one-line error for the user,
// e.g. "--device cuda: no CUDA device found (libcuda.so.1 not loadable: ...)".
absl::Status CheckCudaAvailable();

// The GPU a process trains on: 0, or for a rank of a data-parallel job its local_rank, once NCCL
// loads and the machine has that many devices (else a one-line error).
absl::StatusOr<int> DeviceForRank(const runtime::Communicator* data_parallel);

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

class CudaBackend : public codegen::Backend {
 public:
  std::string_view name() const override { return "cuda"; }
  absl::Status CheckAvailable() const override { return CheckCudaAvailable(); }
  std::vector<codegen::EmitFormat> emit_formats() const override;
  // CUDA C holds no CPU code: a --cpu other than native is refused rather than ignored.
  absl::StatusOr<std::string> Emit(const codegen::CompiledModel& model, std::string_view format,
                                   const codegen::EmitOptions& options) const override;
  absl::StatusOr<std::unique_ptr<codegen::LoadedModel>> Load(
      const codegen::CompiledModel& model, const codegen::LoadOptions& options) const override;
};

}  // namespace kiln::cuda

#endif  // KILN_CODEGEN_CUDA_CUDA_BACKEND_H_
