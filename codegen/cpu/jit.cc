#include "codegen/cpu/jit.h"

#include "absl/strings/str_cat.h"
#include "codegen/cpu/llvm_target.h"
#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/Support/Error.h"

namespace kiln::cpu {
namespace {
std::string ToString(llvm::Error error) { return llvm::toString(std::move(error)); }
}  // namespace

absl::StatusOr<std::unique_ptr<CpuJit>> CpuJit::Create() {
  InitializeLlvm();
  auto builder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!builder) return absl::InternalError(ToString(builder.takeError()));
  builder->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  auto jit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(*builder)).create();
  if (!jit) return absl::InternalError(ToString(jit.takeError()));
  // Generated code calls libm (expf, logf, powf) for the math it does not inline.
  auto generator = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      (*jit)->getDataLayout().getGlobalPrefix());
  if (!generator) return absl::InternalError(ToString(generator.takeError()));
  (*jit)->getMainJITDylib().addGenerator(std::move(*generator));
  return std::unique_ptr<CpuJit>(new CpuJit(std::move(*jit)));
}

absl::Status CpuJit::AddModule(std::unique_ptr<llvm::Module> module,
                               std::unique_ptr<llvm::LLVMContext> context) {
  module->setDataLayout(jit_->getDataLayout());
  if (llvm::Error error = jit_->addIRModule(
          llvm::orc::ThreadSafeModule(std::move(module), std::move(context)))) {
    return absl::InternalError(absl::StrCat("JIT: ", ToString(std::move(error))));
  }
  return absl::OkStatus();
}

absl::StatusOr<KilnEntryFn> CpuJit::Resolve(const std::string& symbol) {
  auto address = jit_->lookup(symbol);
  if (!address) {
    return absl::NotFoundError(absl::StrCat("JIT: ", symbol, ": ", ToString(address.takeError())));
  }
  return address->toPtr<KilnEntryFn>();
}

}  // namespace kiln::cpu
