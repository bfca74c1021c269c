// Emits a whole KernelProgram into an LLVM module: every kernel, plus one entry function that
// runs them in order, dispatching the parallel ones through the runtime's KilnParallel.
#ifndef KILN_CODEGEN_CPU_PROGRAM_EMITTER_H_
#define KILN_CODEGEN_CPU_PROGRAM_EMITTER_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "codegen/cpu/kernel_emitter.h"
#include "codegen/cpu/vector_isa.h"
#include "ir/kernel_program.h"
#include "llvm/IR/Module.h"
#include "runtime/program.h"

namespace kiln::cpu {

// Adds `void symbol(ptr slots, ptr parallel)` and its kernels (named "<symbol>_<kernel>") to
// `module`, their vector code shaped for `isa` (the target's: VectorIsaOf); returns the buffer
// table the runtime binds slots from.
absl::StatusOr<runtime::EntrySpec> EmitEntryPoint(llvm::Module& module,
                                                  const ir::KernelProgram& program,
                                                  const std::string& symbol, const VectorIsa& isa);

// Makes the function of `kernel` (already named "<symbol>_<kernel>") that the entry point calls,
// in the entry's module: emitted there, or a wrapper around code compiled elsewhere.
using KernelFunctionMaker = std::function<absl::StatusOr<EmittedKernel>(const ir::Kernel& kernel)>;

// EmitEntryPoint with each kernel's function made by `make_kernel`.
absl::StatusOr<runtime::EntrySpec> EmitEntryPointWith(llvm::Module& module,
                                                      const ir::KernelProgram& program,
                                                      const std::string& symbol,
                                                      const KernelFunctionMaker& make_kernel);

}  // namespace kiln::cpu

#endif  // KILN_CODEGEN_CPU_PROGRAM_EMITTER_H_
