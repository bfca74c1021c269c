// The target CPU (--cpu), the O3 pipeline, and turning a module into text, assembly or an object
// file. CreateTargetMachine is the one place that decides a CPU's target settings: the object
// file path uses its TargetMachine directly and the JIT (jit.h) copies every setting from it, so
// the two compile the same module to the same code.
#ifndef KILN_CODEGEN_CPU_LLVM_TARGET_H_
#define KILN_CODEGEN_CPU_LLVM_TARGET_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "llvm/IR/Module.h"
#include "llvm/Target/TargetMachine.h"

namespace kiln::cpu {

// Initializes LLVM's native target once per process.
void InitializeLlvm();

// A TargetMachine at -O3 for `cpu`:
//   "native" (or "host")   this machine's CPU with all the features it reports (e.g. AVX-512);
//   "x86-64-v2" .. "-v4"   the generic x86-64 levels (SSE4.2; AVX2 + FMA; AVX-512);
//   any other LLVM CPU name ("znver3", "skylake-avx512", ...) with that CPU's default features.
// Code built for a named CPU need not run here (see CheckRunsOnHost). An unknown name is an
// InvalidArgument error listing the generic names.
absl::StatusOr<std::unique_ptr<llvm::TargetMachine>> CreateTargetMachine(const std::string& cpu);

// CreateTargetMachine("native").
absl::StatusOr<std::unique_ptr<llvm::TargetMachine>> CreateHostTargetMachine();

// The instruction-set features `target` generates code for that this machine lacks ("avx512f",
// ...), sorted; empty when its code runs here.
std::vector<std::string> MissingHostFeatures(const llvm::TargetMachine& target);

// OK when code for `target` can run on this machine; otherwise one line naming the CPU and the
// missing features (running it would stop the process with SIGILL).
absl::Status CheckRunsOnHost(const llvm::TargetMachine& target);

// Sets the module's triple/data layout and every function's target attributes, then runs the
// new pass manager's O3 pipeline with the target's cost model (so loops vectorize for it).
absl::Status OptimizeModule(llvm::Module& module, llvm::TargetMachine& target);

enum class OutputKind { kLlvmIr, kAssembly, kObject };

// Renders `module` (unchanged: codegen runs on a clone).
absl::StatusOr<std::string> EmitModule(const llvm::Module& module, llvm::TargetMachine& target,
                                       OutputKind kind);

}  // namespace kiln::cpu

#endif  // KILN_CODEGEN_CPU_LLVM_TARGET_H_
