// The in-process compiler back end: ORC LLJIT holding kiln's optimized modules. Implements the
// runtime's KernelLibrary, so the runtime resolves entry points without knowing about LLVM.
//
//   KILN_ASSIGN_OR_RETURN(auto target, CreateTargetMachine("x86-64-v3"));
//   KILN_ASSIGN_OR_RETURN(auto jit, CpuJit::Create(*target));  // Error if it cannot run here.
#ifndef KILN_CODEGEN_CPU_JIT_H_
#define KILN_CODEGEN_CPU_JIT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Target/TargetMachine.h"
#include "runtime/kernel_library.h"

namespace kiln::cpu {

class CpuJit : public runtime::KernelLibrary {
 public:
  // Compiles with `target`'s settings (CPU, features, code model, opt level, FP options), so the
  // code is what an object file for the same target holds. Refuses a target whose features this
  // machine lacks (llvm_target.h, CheckRunsOnHost) rather than crash on its first instruction.
  static absl::StatusOr<std::unique_ptr<CpuJit>> Create(const llvm::TargetMachine& target);
  // For this machine's CPU (CreateHostTargetMachine).
  static absl::StatusOr<std::unique_ptr<CpuJit>> Create();

  // Takes an optimized module (see OptimizeModule) and its context.
  absl::Status AddModule(std::unique_ptr<llvm::Module> module,
                         std::unique_ptr<llvm::LLVMContext> context);

  // Takes an ELF relocatable object compiled for the same target (CompileObjects).
  absl::Status AddObject(const std::string& object);

  absl::StatusOr<KilnEntryFn> Resolve(const std::string& symbol) override;

 private:
  explicit CpuJit(std::unique_ptr<llvm::orc::LLJIT> jit) : jit_(std::move(jit)) {}
  std::unique_ptr<llvm::orc::LLJIT> jit_;
};

}  // namespace kiln::cpu

#endif  // KILN_CODEGEN_CPU_JIT_H_
