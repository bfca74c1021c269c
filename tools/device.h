// Device selection for the command line: the CPU backend always, the CUDA backend when kiln was
// built with the CUDA toolkit.
#ifndef KILN_TOOLS_DEVICE_H_
#define KILN_TOOLS_DEVICE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ir/kernel_program.h"

namespace kiln::tools {

// OK for "cpu". For "cuda": a one-line error — "no CUDA device found (...)" on a machine without
// a GPU or driver, or that training on CUDA is not available yet.
absl::Status RequireCpuDevice(const std::string& device);

// The CUDA C of every kernel of `program`, as NVRTC compiles it.
absl::StatusOr<std::string> CudaSource(const ir::KernelProgram& program, const std::string& prefix);

}  // namespace kiln::tools

#endif  // KILN_TOOLS_DEVICE_H_
