#include "codegen/cpu/gemm_test_jit.h"

#include <utility>

#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/ExecutionEngine/Orc/ThreadSafeModule.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Verifier.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Transforms/Utils/Cloning.h"

namespace kiln::cpu {
namespace {

std::string ToString(llvm::Error error) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << error;
  return text;
}

void OptimizeO3(llvm::Module& module, llvm::TargetMachine& tm) {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  // Passing the TargetMachine gives the optimizer the AVX-512 cost model.
  llvm::PassBuilder pb(&tm, llvm::PipelineTuningOptions());
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3).run(module, mam);
}

}  // namespace

absl::StatusOr<std::unique_ptr<GemmTestJit>> GemmTestJit::Create() {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  llvm::InitializeNativeTargetAsmParser();
  auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!jtmb) return absl::InternalError("detecting the host: " + ToString(jtmb.takeError()));
  jtmb->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  auto tm = jtmb->createTargetMachine();
  if (!tm) return absl::InternalError("creating the target machine: " + ToString(tm.takeError()));
  auto jit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(*jtmb).create();
  if (!jit) return absl::InternalError("creating the JIT: " + ToString(jit.takeError()));
  return std::unique_ptr<GemmTestJit>(new GemmTestJit(std::move(*tm), std::move(*jit)));
}

absl::Status GemmTestJit::Add(std::unique_ptr<llvm::LLVMContext> context,
                              std::unique_ptr<llvm::Module> module, std::string* optimized_ir,
                              std::string* assembly) {
  module->setTargetTriple(tm_->getTargetTriple().str());
  module->setDataLayout(tm_->createDataLayout());
  std::string errors;
  llvm::raw_string_ostream error_os(errors);
  if (llvm::verifyModule(*module, &error_os)) {
    return absl::InternalError("invalid IR before optimization: " + errors);
  }
  OptimizeO3(*module, *tm_);
  if (llvm::verifyModule(*module, &error_os)) {
    return absl::InternalError("invalid IR after optimization: " + errors);
  }
  if (optimized_ir != nullptr) {
    optimized_ir->clear();
    llvm::raw_string_ostream os(*optimized_ir);
    module->print(os, nullptr);
  }
  if (assembly != nullptr) {
    // Code generation mutates the IR, so it runs on a copy.
    std::unique_ptr<llvm::Module> copy = llvm::CloneModule(*module);
    assembly->clear();
    llvm::raw_string_ostream os(*assembly);
    llvm::buffer_ostream buffered(os);
    llvm::legacy::PassManager pm;
    if (tm_->addPassesToEmitFile(pm, buffered, nullptr, llvm::CodeGenFileType::AssemblyFile)) {
      return absl::InternalError("the target cannot emit assembly");
    }
    pm.run(*copy);
  }
  if (llvm::Error error = jit_->addIRModule(
          llvm::orc::ThreadSafeModule(std::move(module), std::move(context)))) {
    return absl::InternalError("adding the module to the JIT: " + ToString(std::move(error)));
  }
  return absl::OkStatus();
}

absl::StatusOr<KilnTaskFn> GemmTestJit::Lookup(const std::string& name) {
  auto address = jit_->lookup(name);
  if (!address) {
    return absl::NotFoundError("looking up " + name + ": " + ToString(address.takeError()));
  }
  return address->toPtr<KilnTaskFn>();
}

}  // namespace kiln::cpu
