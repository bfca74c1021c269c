// CUDA C -> CUBIN (or PTX) with NVRTC, which needs no GPU and no driver; results are cached on
// disk under $XDG_CACHE_HOME/kiln/cuda (else ~/.cache/kiln/cuda), keyed by a hash of the source,
// the options and the NVRTC version. Cache files are written to a temporary name and renamed, so
// concurrent compilers never see a partial file. Only compiles with an empty log are cached, so
// a cache hit is always warning-free.
//
//   NvrtcOptions options;                 // sm_90, -default-device, --std=c++17, --fmad=false
//   options.warnings_as_errors = true;
//   KILN_ASSIGN_OR_RETURN(CompiledCuda image, CompileCuda(program.source, options));
#ifndef KILN_CODEGEN_CUDA_NVRTC_COMPILER_H_
#define KILN_CODEGEN_CUDA_NVRTC_COMPILER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::cuda {

struct NvrtcOptions {
  // sm_XX gives a CUBIN for exactly that GPU; compute_XX gives PTX the driver JITs (forward
  // compatible). NVRTC 13 accepts 75 80 86 87 88 89 90 100 103 110 120 121.
  std::string arch = "sm_90";
  // Off by default: no a*b+c contraction, so elementwise results match the CPU backend bit for
  // bit (the GEMM uses explicit fmaf). Turn on for speed where agreement does not matter.
  bool fmad = false;
  std::vector<std::string> extra_options;
  bool warnings_as_errors = false;  // A non-empty log fails the compile (tests use this).
  bool use_cache = true;
  std::string cache_dir;            // Empty: DefaultCacheDir().
};

struct CompiledCuda {
  std::string binary;     // CUBIN bytes (sm_XX) or PTX text (compute_XX).
  bool is_cubin = false;
  std::string log;        // NVRTC's log: warnings (empty when clean).
  bool from_cache = false;
  std::string cache_key;  // 32 hex digits.
};

// The full NVRTC command line for `options`.
std::vector<std::string> NvrtcCommandLine(const NvrtcOptions& options);
// "13.0".
absl::StatusOr<std::string> NvrtcVersion();
std::string DefaultCacheDir();
// The cache key of a compile (exposed for tests).
std::string CacheKey(const std::string& source, const NvrtcOptions& options,
                     const std::string& nvrtc_version);

// Errors carry NVRTC's log. `program_name` appears in diagnostics ("kiln.cu(12): error ...").
absl::StatusOr<CompiledCuda> CompileCuda(const std::string& source, const NvrtcOptions& options,
                                         const std::string& program_name = "kiln.cu");

}  // namespace kiln::cuda

#endif  // KILN_CODEGEN_CUDA_NVRTC_COMPILER_H_
