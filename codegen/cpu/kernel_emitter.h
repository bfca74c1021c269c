// Emits one fused kernel (ir::Kernel) as an LLVM function with the KilnTaskFn ABI:
// `void name(ptr slots, i64 begin, i64 end)`, computing tasks [begin, end) of its iteration space.
// Loop kernels become loop nests over their output shape, reductions loop nests with the
// fused producers evaluated in the innermost body, matmuls the GEMM microkernel with the fused
// consumers as its epilogue.
#ifndef KILN_CODEGEN_CPU_KERNEL_EMITTER_H_
#define KILN_CODEGEN_CPU_KERNEL_EMITTER_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/cpu/vector_isa.h"
#include "ir/kernel_program.h"
#include "llvm/IR/Function.h"
#include "llvm/IR/Module.h"

namespace kiln::cpu {

struct EmittedKernel {
  llvm::Function* function = nullptr;
  int64_t num_tasks = 1;  // The kernel's iteration space is tasks [0, num_tasks).
  bool parallel = false;  // Worth splitting across threads (else run on the calling thread).
};

// Slots are indices into `memory.buffers`; `isa` is the target's (VectorIsaOf the TargetMachine
// the module will be compiled with).
//
// With `slot_table` the function instead reads its buffers from a table of its own, slot i being
// buffer (*slot_table)[i], numbered in the order the emitter first asks for them. Two kernels that
// compute the same thing on different buffers then have the same IR, so they compile once.
absl::StatusOr<EmittedKernel> EmitKernel(llvm::Module& module, const ir::Graph& graph,
                                         const ir::Kernel& kernel,
                                         const ir::BufferAssignment& memory, const VectorIsa& isa,
                                         std::vector<int>* slot_table = nullptr);

}  // namespace kiln::cpu

#endif  // KILN_CODEGEN_CPU_KERNEL_EMITTER_H_
