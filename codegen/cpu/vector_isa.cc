#include "codegen/cpu/vector_isa.h"

#include "absl/strings/str_cat.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/TargetParser/Triple.h"

namespace kiln::cpu {

std::string VectorIsa::Describe() const {
  return absl::StrCat(lanes, " x f32, ", registers, " registers", fma ? ", FMA" : ", no FMA");
}

VectorIsa VectorIsaOf(const llvm::TargetMachine& target) {
  if (!target.getTargetTriple().isX86()) return {.lanes = 4, .registers = 32, .fma = true};
  // The subtarget's feature bits include what the CPU name implies (x86-64-v4 -> avx512f).
  const llvm::MCSubtargetInfo& info = *target.getMCSubtargetInfo();
  const bool fma = info.checkFeatures("+fma");
  if (info.checkFeatures("+avx512f")) {
    // AVX-512 without evex512 (AVX10/256) has its 32 registers at 256 bits only.
    const int lanes = info.checkFeatures("+evex512") ? 16 : 8;
    return {.lanes = lanes, .registers = 32, .fma = fma};
  }
  if (info.checkFeatures("+avx")) return {.lanes = 8, .registers = 16, .fma = fma};
  return {.lanes = 4, .registers = 16, .fma = false};
}

}  // namespace kiln::cpu
