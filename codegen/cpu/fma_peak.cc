#include "codegen/cpu/fma_peak.h"

#include <algorithm>

#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Intrinsics.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "support/status.h"

namespace kiln::cpu {
namespace {

// void fma_peak(ptr slots, i64 begin, i64 end): the chains' sum, stored to slots[0].
void EmitFmaLoop(llvm::Module& module, const VectorIsa& isa, int chains) {
  llvm::LLVMContext& ctx = module.getContext();
  llvm::IRBuilder<> b(ctx);
  auto* vec = llvm::FixedVectorType::get(b.getFloatTy(), isa.lanes);
  auto* type =
      llvm::FunctionType::get(b.getVoidTy(), {b.getPtrTy(), b.getInt64Ty(), b.getInt64Ty()}, false);
  auto* fn = llvm::Function::Create(type, llvm::Function::ExternalLinkage, "fma_peak", module);
  // As the GEMM kernels do: vectors as wide as the register the ISA names, on every CPU model.
  fn->addFnAttr("prefer-vector-width", std::to_string(isa.bits()));
  fn->addFnAttr("min-legal-vector-width", std::to_string(isa.bits()));
  auto* entry = llvm::BasicBlock::Create(ctx, "entry", fn);
  auto* loop = llvm::BasicBlock::Create(ctx, "loop", fn);
  auto* exit = llvm::BasicBlock::Create(ctx, "exit", fn);
  b.SetInsertPoint(entry);
  llvm::Value* begin = fn->getArg(1);
  llvm::Value* end = fn->getArg(2);
  // acc converges to y / (1 - x) = 1: no overflow, no denormals however long it runs.
  llvm::Value* x = llvm::ConstantFP::get(vec, 0.999);
  llvm::Value* y = llvm::ConstantFP::get(vec, 0.001);
  llvm::Function* fmuladd =
      llvm::Intrinsic::getDeclaration(&module, llvm::Intrinsic::fmuladd, {vec});
  b.CreateBr(loop);

  b.SetInsertPoint(loop);
  llvm::PHINode* iv = b.CreatePHI(b.getInt64Ty(), 2);
  iv->addIncoming(begin, entry);
  std::vector<llvm::PHINode*> accs;
  for (int c = 0; c < chains; ++c) {
    llvm::PHINode* acc = b.CreatePHI(vec, 2);
    acc->addIncoming(llvm::ConstantFP::get(vec, 0.01 * c), entry);
    accs.push_back(acc);
  }
  std::vector<llvm::Value*> next;
  for (llvm::PHINode* acc : accs) next.push_back(b.CreateCall(fmuladd, {acc, x, y}));
  llvm::Value* iv_next = b.CreateAdd(iv, b.getInt64(1));
  iv->addIncoming(iv_next, loop);
  for (int c = 0; c < chains; ++c) accs[c]->addIncoming(next[c], loop);
  b.CreateCondBr(b.CreateICmpSLT(iv_next, end), loop, exit);

  b.SetInsertPoint(exit);
  llvm::Value* sum = next[0];
  for (int c = 1; c < chains; ++c) sum = b.CreateFAdd(sum, next[c]);
  llvm::Value* out = b.CreateLoad(b.getPtrTy(), fn->getArg(0));
  b.CreateAlignedStore(sum, out, llvm::Align(alignof(float)));  // A std::vector's floats.
  b.CreateRetVoid();
}

}  // namespace

std::vector<int> FmaChainCounts(const VectorIsa& isa) {
  std::vector<int> counts;
  for (int chains = 8; chains <= std::min(24, isa.registers - 2); chains += 2) {
    counts.push_back(chains);
  }
  return counts;
}

absl::StatusOr<FmaLoop> CompileFmaLoop(const std::string& cpu, int chains) {
  FmaLoop loop;
  KILN_ASSIGN_OR_RETURN(loop.jit, GemmTestJit::Create(cpu));
  const VectorIsa& isa = loop.jit->isa();
  loop.chains = chains;
  loop.flops_per_iteration = 2.0 * loop.chains * isa.lanes;
  auto context = std::make_unique<llvm::LLVMContext>();
  auto module = std::make_unique<llvm::Module>("fma_peak", *context);
  EmitFmaLoop(*module, isa, loop.chains);
  KILN_RETURN_IF_ERROR(loop.jit->Add(std::move(context), std::move(module)));
  KILN_ASSIGN_OR_RETURN(loop.fn, loop.jit->Lookup("fma_peak"));
  loop.sums.resize(isa.lanes);
  loop.out[0] = loop.sums.data();
  return loop;
}

}  // namespace kiln::cpu
