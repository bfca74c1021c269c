// Emits a whole KernelProgram (one training or eval step) as ONE CUDA C translation unit: the
// preamble, then every kernel in execution order, plus each kernel's launch record and the
// device memory plan the launches bind their buffers from.
//
//   KILN_ASSIGN_OR_RETURN(CudaProgram cuda, EmitCudaProgram(program, "mlp_train_b64"));
//   KILN_ASSIGN_OR_RETURN(CompiledCuda image, CompileCuda(cuda.source, NvrtcOptions{}));
//   // then, on a GPU: load image.binary, allocate cuda.memory.arena_bytes, launch in order.
#ifndef KILN_CODEGEN_CUDA_PROGRAM_EMITTER_H_
#define KILN_CODEGEN_CUDA_PROGRAM_EMITTER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/cuda/kernel_emitter.h"
#include "ir/kernel_program.h"

namespace kiln::cuda {

// Where each buffer lives on the device. Arena buffers (kOutput/kTemp) are at their planner
// offsets inside one allocation of arena_bytes (cuMemAlloc returns 256-byte aligned memory, the
// planner's offsets are 64-byte aligned, so float4 access stays aligned); kInput and kPersistent
// buffers are separate allocations owned by the runtime, as on the CPU.
struct DeviceBuffer {
  std::string name;
  ir::BufferKind kind = ir::BufferKind::kTemp;
  int64_t bytes = 0;
  int64_t arena_offset = -1;  // -1 unless in the arena.
};

struct DeviceMemoryPlan {
  int64_t arena_bytes = 0;
  std::vector<DeviceBuffer> buffers;  // Indexed like BufferAssignment::buffers (= kernel slots).
};

struct CudaProgram {
  std::string source;               // One NVRTC program: preamble + every kernel.
  std::vector<CudaKernel> kernels;  // Execution order.
  DeviceMemoryPlan memory;
};

DeviceMemoryPlan PlanDeviceMemory(const ir::BufferAssignment& memory);

// Kernel symbols are "<prefix>_<kernel name>" (just the kernel name if prefix is empty).
absl::StatusOr<CudaProgram> EmitCudaProgram(const ir::KernelProgram& program,
                                            const std::string& prefix);


}  // namespace kiln::cuda

#endif  // KILN_CODEGEN_CUDA_PROGRAM_EMITTER_H_
