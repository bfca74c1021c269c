// Tells LLVM that a kernel's buffers do not overlap. A kernel reaches its buffers through
// pointers it loads from its `slots` argument, so LLVM must assume any store may change any
// later load: the SLP vectorizer cannot hoist the loads of a row above the stores of the one
// before (a transposing im2col stayed 32 scalar copies per run), and the loop vectorizer guards
// every loop with runtime overlap checks or gives up past its limit of them.
//
// Distinct slots hold distinct buffers that are all live while the kernel runs (the memory plan
// reuses a buffer's space only after the last kernel that reads it), so their bytes are
// disjoint; a value written in place shares its target's slot. Each slot gets an alias scope,
// and every load and store whose address is based on a slot's pointer is marked as in that
// scope and disjoint from the others.
//
//   llvm::Function* fn = ...;   // void name(ptr slots, i64 begin, i64 end), fully emitted
//   DeclareSlotsDisjoint(*fn);  // before the module is optimized
#ifndef KILN_CODEGEN_CPU_BUFFER_ALIAS_SCOPES_H_
#define KILN_CODEGEN_CPU_BUFFER_ALIAS_SCOPES_H_

#include "llvm/IR/Function.h"

namespace kiln::cpu {

void DeclareSlotsDisjoint(llvm::Function& kernel);

}  // namespace kiln::cpu

#endif  // KILN_CODEGEN_CPU_BUFFER_ALIAS_SCOPES_H_
