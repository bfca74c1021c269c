// A convenience wrapper for the GEMM emitter's tests and benchmark: optimizes a module with the
// compiler's O3 pipeline (llvm_target.h), JIT-compiles it with the compiler's JIT (jit.h) and
// resolves KilnTaskFn kernels, so GEMM code can be tested without building whole programs.
//
//   auto jit = kiln::cpu::GemmTestJit::Create();          // or Create("x86-64-v3")
//   EmitGemmKernel(*module, "gemm", shape, nullptr, (*jit)->isa());
//   KILN_RETURN_IF_ERROR((*jit)->Add(std::move(ctx), std::move(module), &optimized_ir));
//   KILN_ASSIGN_OR_RETURN(KilnTaskFn fn, (*jit)->Lookup("gemm"));
#ifndef KILN_CODEGEN_CPU_GEMM_TEST_JIT_H_
#define KILN_CODEGEN_CPU_GEMM_TEST_JIT_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "codegen/cpu/jit.h"
#include "codegen/cpu/vector_isa.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Target/TargetMachine.h"
#include "runtime/kernel_abi.h"

namespace kiln::cpu {

class GemmTestJit {
 public:
  // For `cpu` as CreateTargetMachine takes it; an error if this machine cannot run its code.
  static absl::StatusOr<std::unique_ptr<GemmTestJit>> Create(const std::string& cpu = "native");

  // The vector ISA of the target: emit the kernels for it.
  const VectorIsa& isa() const { return isa_; }

  // Verifies and optimizes `module` (O3, the target CPU), optionally returning the optimized IR
  // and its assembly, then hands it to the JIT.
  absl::Status Add(std::unique_ptr<llvm::LLVMContext> context, std::unique_ptr<llvm::Module> module,
                   std::string* optimized_ir = nullptr, std::string* assembly = nullptr);
  absl::StatusOr<KilnTaskFn> Lookup(const std::string& name);

 private:
  GemmTestJit(std::unique_ptr<llvm::TargetMachine> tm, std::unique_ptr<CpuJit> jit)
      : tm_(std::move(tm)), isa_(VectorIsaOf(*tm_)), jit_(std::move(jit)) {}

  std::unique_ptr<llvm::TargetMachine> tm_;
  VectorIsa isa_;
  std::unique_ptr<CpuJit> jit_;
};

}  // namespace kiln::cpu

#endif  // KILN_CODEGEN_CPU_GEMM_TEST_JIT_H_
