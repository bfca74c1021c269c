// Reduction kernels for the CPU: a root reduction whose fused elementwise producers are evaluated
// at each element it folds. Sums follow codegen/summation_plan.h (chunks summed in vector
// registers, chunk sums folded pairwise), so their error grows with log(n); max, min and argmax
// are exact in any order and fold in one pass.
#ifndef KILN_CODEGEN_CPU_REDUCTION_EMITTER_H_
#define KILN_CODEGEN_CPU_REDUCTION_EMITTER_H_

#include "absl/status/statusor.h"
#include "codegen/cpu/kernel_context.h"
#include "codegen/cpu/kernel_emitter.h"

namespace kiln::cpu {

// Fills the function `k` created (KernelContext::CreateFunction) for a kReduction kernel.
absl::StatusOr<EmittedKernel> EmitReductionKernel(KernelContext& k);

}  // namespace kiln::cpu

#endif  // KILN_CODEGEN_CPU_REDUCTION_EMITTER_H_
