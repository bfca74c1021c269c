#include "codegen/cpu/gemm_test_jit.h"

#include "codegen/cpu/llvm_target.h"
#include "llvm/Support/raw_ostream.h"
#include "support/status.h"

namespace kiln::cpu {

// The compiler's own pipeline (llvm_target.h) and JIT (jit.h), so the GEMM is tested exactly
// as kiln builds it.
absl::StatusOr<std::unique_ptr<GemmTestJit>> GemmTestJit::Create(const std::string& cpu) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<llvm::TargetMachine> tm, CreateTargetMachine(cpu));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<CpuJit> jit, CpuJit::Create(*tm));
  return std::unique_ptr<GemmTestJit>(new GemmTestJit(std::move(tm), std::move(jit)));
}

absl::Status GemmTestJit::Add(std::unique_ptr<llvm::LLVMContext> context,
                              std::unique_ptr<llvm::Module> module, std::string* optimized_ir,
                              std::string* assembly) {
  KILN_RETURN_IF_ERROR(OptimizeModule(*module, *tm_));
  if (optimized_ir != nullptr) {
    KILN_ASSIGN_OR_RETURN(*optimized_ir, EmitModule(*module, *tm_, OutputKind::kLlvmIr));
  }
  if (assembly != nullptr) {
    KILN_ASSIGN_OR_RETURN(*assembly, EmitModule(*module, *tm_, OutputKind::kAssembly));
  }
  return jit_->AddModule(std::move(module), std::move(context));
}

absl::StatusOr<KilnTaskFn> GemmTestJit::Lookup(const std::string& name) {
  KILN_ASSIGN_OR_RETURN(KilnEntryFn address, jit_->Resolve(name));
  return reinterpret_cast<KilnTaskFn>(address);
}

}  // namespace kiln::cpu
