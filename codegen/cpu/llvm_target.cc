#include "codegen/cpu/llvm_target.h"

#include <mutex>

#include "absl/strings/str_cat.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Analysis/CGSCCPassManager.h"
#include "llvm/Analysis/LoopAnalysisManager.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/PassManager.h"
#include "llvm/IR/Verifier.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/Transforms/Utils/Cloning.h"
#include "support/status.h"

namespace kiln::cpu {

void InitializeLlvm() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  });
}

namespace {
std::string HostFeatures() {
  std::string features;
  for (const auto& feature : llvm::sys::getHostCPUFeatures()) {
    if (!features.empty()) features += ",";
    features += (feature.second ? "+" : "-") + feature.first().str();
  }
  return features;
}
}  // namespace

namespace {
absl::StatusOr<const llvm::Target*> ProcessTarget() {
  InitializeLlvm();
  std::string error;
  const llvm::Target* target = llvm::TargetRegistry::lookupTarget(llvm::sys::getProcessTriple(), error);
  if (target == nullptr) return absl::InternalError(absl::StrCat("LLVM target: ", error));
  return target;
}

absl::StatusOr<std::unique_ptr<llvm::TargetMachine>> MakeTargetMachine(const std::string& cpu,
                                                                       const std::string& features) {
  KILN_ASSIGN_OR_RETURN(const llvm::Target* target, ProcessTarget());
  std::string triple = llvm::sys::getProcessTriple();
  llvm::TargetOptions options;
  std::unique_ptr<llvm::TargetMachine> machine(target->createTargetMachine(
      triple, cpu, features, options, llvm::Reloc::PIC_, std::nullopt,
      llvm::CodeGenOptLevel::Aggressive));
  if (!machine) return absl::InternalError("could not create a TargetMachine for " + triple);
  return machine;
}
}  // namespace

absl::StatusOr<std::unique_ptr<llvm::TargetMachine>> CreateHostTargetMachine() {
  return MakeTargetMachine(llvm::sys::getHostCPUName().str(), HostFeatures());
}

absl::StatusOr<std::unique_ptr<llvm::TargetMachine>> CreateTargetMachine(const std::string& cpu) {
  if (cpu == "host") return CreateHostTargetMachine();
  KILN_ASSIGN_OR_RETURN(const llvm::Target* target, ProcessTarget());
  std::unique_ptr<llvm::MCSubtargetInfo> info(
      target->createMCSubtargetInfo(llvm::sys::getProcessTriple(), "", ""));
  if (info == nullptr || !info->isCPUStringValid(cpu)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown CPU '", cpu, "' (try host, x86-64-v3 or x86-64-v4)"));
  }
  return MakeTargetMachine(cpu, "");
}

absl::Status OptimizeModule(llvm::Module& module, llvm::TargetMachine& target) {
  module.setTargetTriple(target.getTargetTriple().str());
  module.setDataLayout(target.createDataLayout());
  std::string cpu = target.getTargetCPU().str();
  std::string features = target.getTargetFeatureString().str();
  for (llvm::Function& f : module) {
    if (f.isDeclaration()) continue;
    f.addFnAttr("target-cpu", cpu);
    f.addFnAttr("target-features", features);
    f.addFnAttr(llvm::Attribute::NoUnwind);
  }
  std::string message;
  llvm::raw_string_ostream os(message);
  if (llvm::verifyModule(module, &os)) {
    return absl::InternalError(absl::StrCat("generated LLVM IR is invalid: ", os.str()));
  }
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PipelineTuningOptions tuning;
  tuning.LoopVectorization = true;
  tuning.SLPVectorization = true;
  llvm::PassBuilder pb(&target, tuning);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3).run(module, mam);
  return absl::OkStatus();
}

absl::StatusOr<std::string> EmitModule(const llvm::Module& module, llvm::TargetMachine& target,
                                       OutputKind kind) {
  std::string out;
  llvm::raw_string_ostream os(out);
  if (kind == OutputKind::kLlvmIr) {
    module.print(os, nullptr);
    return os.str();
  }
  std::unique_ptr<llvm::Module> clone = llvm::CloneModule(module);
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream stream(buffer);
  llvm::legacy::PassManager pm;
  auto file_type = kind == OutputKind::kObject ? llvm::CodeGenFileType::ObjectFile
                                               : llvm::CodeGenFileType::AssemblyFile;
  if (target.addPassesToEmitFile(pm, stream, nullptr, file_type)) {
    return absl::InternalError("the target cannot emit this file type");
  }
  pm.run(*clone);
  return std::string(buffer.begin(), buffer.end());
}

}  // namespace kiln::cpu
