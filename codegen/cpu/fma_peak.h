// The single-core multiply-add peak of a target CPU, measured rather than assumed: a generated
// loop of independent vector multiply-adds, JIT-compiled for that CPU the way the GEMM kernels
// are (llvm.fmuladd at the ISA's width: an FMA instruction, or a multiply and an add on SSE).
// Each chain is acc = acc * x + y, one multiply-add latency per iteration: with too few chains
// the latency bounds the loop, with too many the registers spill, so the benchmark times every
// count of FmaChainCounts and takes the fastest. It reports each kernel as a share of that.
//
//   for (int chains : FmaChainCounts(isa)) {
//     KILN_ASSIGN_OR_RETURN(FmaLoop loop, CompileFmaLoop("native", chains));
//     loop.fn(loop.out, 0, iterations);  // loop.flops_per_iteration * iterations flops
//   }
#ifndef KILN_CODEGEN_CPU_FMA_PEAK_H_
#define KILN_CODEGEN_CPU_FMA_PEAK_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/cpu/gemm_test_jit.h"
#include "runtime/kernel_abi.h"

namespace kiln::cpu {

struct FmaLoop {
  KilnTaskFn fn = nullptr;  // Runs iterations [begin, end); stores its sums through out[0].
  void* out[1] = {nullptr};
  double flops_per_iteration = 0.0;
  int chains = 0;
  std::vector<float> sums;           // Where out[0] points: keeps the results live.
  std::unique_ptr<GemmTestJit> jit;  // Owns the code.
};

// Even counts from 8 (two units of 4-cycle latency) up to the register file less x and y.
std::vector<int> FmaChainCounts(const VectorIsa& isa);

absl::StatusOr<FmaLoop> CompileFmaLoop(const std::string& cpu, int chains);

}  // namespace kiln::cpu

#endif  // KILN_CODEGEN_CPU_FMA_PEAK_H_
