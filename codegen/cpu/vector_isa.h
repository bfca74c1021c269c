// What the vector unit of a target CPU offers the hand-blocked GEMM: f32 lanes per register,
// how many vector registers there are, and whether a multiply-add is one instruction. Read from
// the TargetMachine in one place (VectorIsaOf), so the GEMM emitter's register blocks follow
// --cpu rather than the machine that compiles.
//
//   KILN_ASSIGN_OR_RETURN(auto target, CreateTargetMachine("x86-64-v3"));
//   VectorIsa isa = VectorIsaOf(*target);  // {.lanes = 8, .registers = 16, .fma = true}
#ifndef KILN_CODEGEN_CPU_VECTOR_ISA_H_
#define KILN_CODEGEN_CPU_VECTOR_ISA_H_

#include <string>

#include "llvm/Target/TargetMachine.h"

namespace kiln::cpu {

// No defaults that look like a real ISA: take one from VectorIsaOf or the constants below.
struct VectorIsa {
  int lanes = 0;      // f32 lanes of one vector register (a power of two).
  int registers = 0;  // Architectural vector registers.
  bool fma = false;   // Fused multiply-add; without it llvm.fmuladd becomes a mul and an add,
                      // whose product needs a register of its own.

  int bits() const { return lanes * 32; }
  std::string Describe() const;  // "8 x f32, 16 registers, FMA".
};

inline constexpr VectorIsa kAvx512 = {.lanes = 16, .registers = 32, .fma = true};
inline constexpr VectorIsa kAvx2 = {.lanes = 8, .registers = 16, .fma = true};
inline constexpr VectorIsa kSse = {.lanes = 4, .registers = 16, .fma = false};

// x86: AVX-512 (with 512-bit registers) -> kAvx512; AVX (with or without FMA) -> 8 lanes,
// 16 registers; otherwise SSE. Other architectures: 4 lanes, 32 registers, FMA (AArch64 NEON).
VectorIsa VectorIsaOf(const llvm::TargetMachine& target);

}  // namespace kiln::cpu

#endif  // KILN_CODEGEN_CPU_VECTOR_ISA_H_
