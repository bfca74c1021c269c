// Device selection for the command line: the CPU backend always, the CUDA backend when kiln was
// built with the CUDA toolkit.
#ifndef KILN_TOOLS_DEVICE_H_
#define KILN_TOOLS_DEVICE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ir/kernel_program.h"
#include "runtime/executable.h"
#include "tools/command_line.h"

namespace kiln::tools {

// OK for "cpu". For "cuda": a one-line error — "no CUDA device found (...)" on a machine without
// a GPU or driver, or that this command does not run on CUDA.
absl::Status RequireCpuDevice(const std::string& device);

// `kiln train FILE --device cuda` (tools/cuda_train.cc): the CPU command's flags, the steps run
// by runtime::CudaTrainer. Without a usable device (or in a build without the CUDA toolkit) a
// one-line "--device cuda: no CUDA device found (...)". 
absl::Status TrainOnCuda(const CommandLine& line, bool resume);

// `kiln profile FILE --device cuda` (tools/cuda_profile.cc): the step and each kernel timed on
// the GPU with device events, with achieved GB/s and GFLOP/s.
absl::Status ProfileOnCuda(const CommandLine& line);

// Deterministic, harmless inputs for profiling: small features, class 0 labels, a tiny
// learning rate (tools/profile_command.cc).
absl::Status FillProfileInputs(runtime::Entry& entry);

// The CUDA C of every kernel of `program`, as NVRTC compiles it.
absl::StatusOr<std::string> CudaSource(const ir::KernelProgram& program, const std::string& prefix);

}  // namespace kiln::tools

#endif  // KILN_TOOLS_DEVICE_H_
