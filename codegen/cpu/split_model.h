// A model's code split for parallel, cached compilation: each distinct kernel in an LLVM module
// (and context) of its own, so threads can optimize and compile them independently and the code
// cache can key each by its IR; and one module with the entry points, which call the kernels.
//
// Kernels read their buffers through a table of their own (EmitKernel's slot table), so kernels
// that compute the same thing on different buffers (ResNet's repeated convolutions) have the same
// IR and are compiled once. Each kernel "<entry>_<kernel>" the runtime resolves is a small wrapper
// in the entry module that fills the table from the entry's slots and calls the shared body.
#ifndef KILN_CODEGEN_CPU_SPLIT_MODEL_H_
#define KILN_CODEGEN_CPU_SPLIT_MODEL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/backend.h"
#include "codegen/cpu/vector_isa.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "runtime/program.h"

namespace kiln::cpu {

// One distinct kernel body.
struct KernelBody {
  // "kiln_kernel_" and 32 hex digits of the SHA-256 of its module's bitcode, as emitted under a
  // placeholder name: equal IR, equal name. The code cache keys it by this.
  std::string name;
  std::unique_ptr<llvm::LLVMContext> context;
  std::unique_ptr<llvm::Module> module;  // Defines the one function `name`.
};

// The bitcode of `module`: what kernels are compared and cached by. (Bitcode, not IR text:
// LLVM's printer costs several times more, and this runs for every kernel of every compile.)
std::string ModuleBitcode(const llvm::Module& module);

struct SplitModel {
  std::unique_ptr<llvm::LLVMContext> context;
  std::unique_ptr<llvm::Module> entries;  // The entry points and the kernel wrappers.
  std::vector<KernelBody> bodies;         // Distinct kernels, in order of first use.
  runtime::ProgramSpec spec;
  int num_kernels = 0;  // Kernels in all entries, before de-duplication.
};

// `isa` is the target's (VectorIsaOf); the modules are not yet optimized (OptimizeModule).
absl::StatusOr<SplitModel> SplitModelIntoKernels(const codegen::CompiledModel& model,
                                                 const VectorIsa& isa);

}  // namespace kiln::cpu

#endif  // KILN_CODEGEN_CPU_SPLIT_MODEL_H_
