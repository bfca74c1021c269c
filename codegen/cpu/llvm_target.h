// The host target, the O3 pipeline, and turning a module into text, assembly or an object file.
#ifndef KILN_CODEGEN_CPU_LLVM_TARGET_H_
#define KILN_CODEGEN_CPU_LLVM_TARGET_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "llvm/IR/Module.h"
#include "llvm/Target/TargetMachine.h"

namespace kiln::cpu {

// Initializes LLVM's native target once per process.
void InitializeLlvm();

// A TargetMachine for this CPU (all its features, e.g. AVX-512), at -O3.
absl::StatusOr<std::unique_ptr<llvm::TargetMachine>> CreateHostTargetMachine();

// A TargetMachine for a named x86-64 CPU ("x86-64-v3", "x86-64-v4", "znver3", ...) with that
// CPU's default features, at -O3; "host" is CreateHostTargetMachine(). Code built for a named CPU
// need not run here, so tests of instruction selection do not depend on the machine they run on.
absl::StatusOr<std::unique_ptr<llvm::TargetMachine>> CreateTargetMachine(const std::string& cpu);

// Sets the module's triple/data layout and every function's target attributes, then runs the
// new pass manager's O3 pipeline with the target's cost model (so loops vectorize for it).
absl::Status OptimizeModule(llvm::Module& module, llvm::TargetMachine& target);

enum class OutputKind { kLlvmIr, kAssembly, kObject };

// Renders `module` (unchanged: codegen runs on a clone).
absl::StatusOr<std::string> EmitModule(const llvm::Module& module, llvm::TargetMachine& target,
                                       OutputKind kind);

}  // namespace kiln::cpu

#endif  // KILN_CODEGEN_CPU_LLVM_TARGET_H_
