// The CPU backend: kernel programs -> LLVM IR -> O3 for the target CPU (--cpu, default this one)
// -> ORC JIT (or IR, assembly, an object file), run by runtime::Executable and runtime::Trainer
// on a thread pool.
#ifndef KILN_CODEGEN_CPU_CPU_BACKEND_H_
#define KILN_CODEGEN_CPU_CPU_BACKEND_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/backend.h"
#include "codegen/cpu/jit.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Target/TargetMachine.h"
#include "runtime/executable.h"
#include "runtime/program.h"

namespace kiln::cpu {

// Every entry of a model in one module optimized (O3) for a target CPU, and the buffer tables the
// runtime binds its slots from. What --emit=llvm and --emit=asm show; the JIT, --emit=obj and
// kiln build compile the same kernels split per kernel instead (object_compiler.h).
struct CpuModule {
  std::unique_ptr<llvm::LLVMContext> context;
  std::unique_ptr<llvm::Module> module;
  runtime::ProgramSpec spec;
  // The target the module was optimized for: compile it with this (EmitModule, CpuJit::Create),
  // so the object file and the JIT hold the same code.
  std::unique_ptr<llvm::TargetMachine> target;
};
// `cpu` as CreateTargetMachine takes it (llvm_target.h): "native", "x86-64-v3", "znver3", ...
absl::StatusOr<CpuModule> EmitCpuModule(const codegen::CompiledModel& model,
                                        const std::string& cpu = "native");

// A model JIT-compiled for `cpu` (which must run here), its persistent tensors initialized from
// `seed`. The CUDA backend keeps one as the host copy of the parameters; the trainer's non-finite
// replay runs an unfused one.
struct HostProgram {
  std::unique_ptr<CpuJit> jit;  // Declared first: the executable resolves symbols in it.
  std::unique_ptr<runtime::Executable> executable;
};
// Compiled through CompileObjects (object_compiler.h): in parallel, and from the code cache when
// `use_cache` and the environment allow (code_cache.h).
absl::StatusOr<HostProgram> LoadOnHost(const codegen::CompiledModel& model, uint64_t seed,
                                       const std::string& cpu = "native", bool use_cache = true);

class CpuBackend : public codegen::Backend {
 public:
  std::string_view name() const override { return "cpu"; }
  bool ReadsWindowedGemmOperands() const override { return true; }
  absl::Status CheckAvailable() const override { return absl::OkStatus(); }
  std::vector<codegen::EmitFormat> emit_formats() const override;
  absl::StatusOr<std::string> Emit(const codegen::CompiledModel& model, std::string_view format,
                                   const codegen::EmitOptions& options) const override;
  absl::StatusOr<std::unique_ptr<codegen::LoadedModel>> Load(
      const codegen::CompiledModel& model, const codegen::LoadOptions& options) const override;
  absl::StatusOr<codegen::MachinePeak> MeasurePeak(int threads,
                                                   const std::string& cpu) const override;
};

}  // namespace kiln::cpu

#endif  // KILN_CODEGEN_CPU_CPU_BACKEND_H_
