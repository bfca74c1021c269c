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
  if (info.checkFeatures("+avx512f")) {
    // AVX-512 without evex512 (AVX10/256) has its 32 registers at 256 bits only.
    if (!info.checkFeatures("+evex512")) return {.lanes = 8, .registers = 32, .fma = true};
    return kAvx512;
  }
  if (info.checkFeatures("+avx")) {
    if (!info.checkFeatures("+fma")) return {.lanes = 8, .registers = 16, .fma = false};
    return kAvx2;
  }
  return kSse;
}

}  // namespace kiln::cpu
