#include "codegen/cpu/jit.h"

#include "absl/strings/str_cat.h"
#include "codegen/cpu/llvm_target.h"
#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"
#include "support/status.h"

namespace kiln::cpu {
namespace {
std::string ToString(llvm::Error error) { return llvm::toString(std::move(error)); }

// Every setting of `target` that shapes code, so the JIT compiles exactly as EmitModule would.
llvm::orc::JITTargetMachineBuilder SameSettingsAs(const llvm::TargetMachine& target) {
  llvm::orc::JITTargetMachineBuilder builder(target.getTargetTriple());
  builder.setCPU(target.getTargetCPU().str());
  builder.setFeatures(target.getTargetFeatureString());
  builder.setOptions(target.Options);
  builder.setRelocationModel(target.getRelocationModel());
  builder.setCodeModel(target.getCodeModel());
  builder.setCodeGenOptLevel(target.getOptLevel());
  return builder;
}
}  // namespace

absl::StatusOr<std::unique_ptr<CpuJit>> CpuJit::Create() {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<llvm::TargetMachine> target, CreateHostTargetMachine());
  return Create(*target);
}

absl::StatusOr<std::unique_ptr<CpuJit>> CpuJit::Create(const llvm::TargetMachine& target) {
  InitializeLlvm();
  KILN_RETURN_IF_ERROR(CheckRunsOnHost(target));
  auto jit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(SameSettingsAs(target)).create();
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

absl::Status CpuJit::AddObject(const std::string& object) {
  if (llvm::Error error =
          jit_->addObjectFile(llvm::MemoryBuffer::getMemBufferCopy(object, "kiln-object"))) {
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
