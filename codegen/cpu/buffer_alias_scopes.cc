#include "codegen/cpu/buffer_alias_scopes.h"

#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "llvm/ADT/APInt.h"
#include "llvm/Analysis/ValueTracking.h"
#include "llvm/IR/InstIterator.h"
#include "llvm/IR/Instructions.h"
#include "llvm/IR/IntrinsicInst.h"
#include "llvm/IR/MDBuilder.h"
#include "llvm/IR/Metadata.h"
#include "llvm/IR/Module.h"

namespace kiln::cpu {
namespace {

// The address an instruction reads or writes, for the accesses the kernels make; null otherwise.
llvm::Value* AccessedPointer(llvm::Instruction& inst) {
  if (auto* load = llvm::dyn_cast<llvm::LoadInst>(&inst)) return load->getPointerOperand();
  if (auto* store = llvm::dyn_cast<llvm::StoreInst>(&inst)) return store->getPointerOperand();
  if (auto* call = llvm::dyn_cast<llvm::IntrinsicInst>(&inst)) {
    switch (call->getIntrinsicID()) {
      case llvm::Intrinsic::masked_load: return call->getArgOperand(0);
      case llvm::Intrinsic::masked_store: return call->getArgOperand(1);
      default: return nullptr;
    }
  }
  return nullptr;
}

// The byte offset in `slots` of the slot `pointer` is based on, when its underlying object is a
// buffer pointer loaded from the slots array.
std::optional<int64_t> SlotOf(const llvm::Value* pointer, const llvm::Argument* slots,
                              const llvm::DataLayout& layout) {
  const auto* base = llvm::dyn_cast<llvm::LoadInst>(llvm::getUnderlyingObject(pointer, 0));
  if (base == nullptr || !base->getType()->isPointerTy()) return std::nullopt;
  llvm::APInt offset(layout.getIndexTypeSizeInBits(base->getPointerOperandType()), 0);
  const llvm::Value* from = base->getPointerOperand()->stripAndAccumulateConstantOffsets(
      layout, offset, /*AllowNonInbounds=*/true);
  if (from != slots) return std::nullopt;
  return offset.getSExtValue();
}

}  // namespace

void DeclareSlotsDisjoint(llvm::Function& kernel) {
  if (kernel.arg_size() == 0) return;
  const llvm::Argument* slots = kernel.getArg(0);
  const llvm::DataLayout& layout = kernel.getParent()->getDataLayout();
  std::vector<std::pair<llvm::Instruction*, int64_t>> accesses;
  std::map<int64_t, llvm::MDNode*> scopes;
  for (llvm::Instruction& inst : llvm::instructions(kernel)) {
    const llvm::Value* pointer = AccessedPointer(inst);
    if (pointer == nullptr) continue;
    if (std::optional<int64_t> slot = SlotOf(pointer, slots, layout)) {
      accesses.emplace_back(&inst, *slot);
      scopes.emplace(*slot, nullptr);
    }
  }
  if (scopes.size() < 2) return;
  llvm::LLVMContext& context = kernel.getContext();
  llvm::MDBuilder md(context);
  llvm::MDNode* domain = md.createAnonymousAliasScopeDomain(kernel.getName());
  for (auto& [slot, scope] : scopes) scope = md.createAnonymousAliasScope(domain);
  std::map<int64_t, std::pair<llvm::MDNode*, llvm::MDNode*>> lists;  // slot -> (scope, others)
  for (const auto& [slot, scope] : scopes) {
    std::vector<llvm::Metadata*> others;
    for (const auto& [other, other_scope] : scopes) {
      if (other != slot) others.push_back(other_scope);
    }
    lists[slot] = {llvm::MDNode::get(context, {scope}), llvm::MDNode::get(context, others)};
  }
  for (auto [inst, slot] : accesses) {
    inst->setMetadata(llvm::LLVMContext::MD_alias_scope, lists[slot].first);
    inst->setMetadata(llvm::LLVMContext::MD_noalias, lists[slot].second);
  }
}

}  // namespace kiln::cpu
