#include "codegen/cpu/llvm_target.h"

#include <algorithm>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "codegen/backend.h"
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

// The generic CPU levels --cpu documents; any other LLVM CPU name is accepted too.
constexpr const char* kGenericCpus = "native, x86-64-v2, x86-64-v3, x86-64-v4";

std::string HostFeatures() {
  std::string features;
  for (const auto& feature : llvm::sys::getHostCPUFeatures()) {
    if (!features.empty()) features += ",";
    features += (feature.second ? "+" : "-") + feature.first().str();
  }
  return features;
}

absl::StatusOr<const llvm::Target*> ProcessTarget() {
  InitializeLlvm();
  std::string error;
  const llvm::Target* target = llvm::TargetRegistry::lookupTarget(llvm::sys::getProcessTriple(), error);
  if (target == nullptr) return absl::InternalError(absl::StrCat("LLVM target: ", error));
  return target;
}

// Every setting that shapes the generated code is fixed here, explicitly, so that the JIT (which
// copies them, jit.cc) and the object file agree: PIC, the small code model, -O3, and LLVM's
// default floating-point options (contract only llvm.fmuladd, no fast-math).
absl::StatusOr<std::unique_ptr<llvm::TargetMachine>> MakeTargetMachine(const std::string& cpu,
                                                                       const std::string& features) {
  KILN_ASSIGN_OR_RETURN(const llvm::Target* target, ProcessTarget());
  std::string triple = llvm::sys::getProcessTriple();
  llvm::TargetOptions options;
  std::unique_ptr<llvm::TargetMachine> machine(
      target->createTargetMachine(triple, cpu, features, options, llvm::Reloc::PIC_,
                                  llvm::CodeModel::Small, llvm::CodeGenOptLevel::Aggressive));
  if (!machine) return absl::InternalError("could not create a TargetMachine for " + triple);
  return machine;
}

}  // namespace

absl::StatusOr<std::unique_ptr<llvm::TargetMachine>> CreateTargetMachine(const std::string& cpu) {
  if (codegen::IsNativeCpu(cpu)) {
    return MakeTargetMachine(llvm::sys::getHostCPUName().str(), HostFeatures());
  }
  KILN_ASSIGN_OR_RETURN(const llvm::Target* target, ProcessTarget());
  std::unique_ptr<llvm::MCSubtargetInfo> info(
      target->createMCSubtargetInfo(llvm::sys::getProcessTriple(), "", ""));
  if (info == nullptr || !info->isCPUStringValid(cpu)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown CPU '", cpu, "' (use ", kGenericCpus,
                                                   ", or an LLVM CPU name such as znver3)"));
  }
  return MakeTargetMachine(cpu, "");
}

absl::StatusOr<std::unique_ptr<llvm::TargetMachine>> CreateHostTargetMachine() {
  return CreateTargetMachine("native");
}

std::vector<std::string> MissingHostFeatures(const llvm::TargetMachine& target) {
  // The host reports the instruction-set features it knows about, each on or off; the target's
  // feature bits also hold tuning flags ("slow-3ops-lea") that the host never reports and that
  // need no hardware, so only features the host reports as off count as missing.
  const llvm::StringMap<bool> host = llvm::sys::getHostCPUFeatures();
  const llvm::MCSubtargetInfo& info = *target.getMCSubtargetInfo();
  std::vector<std::string> missing;
  for (const llvm::SubtargetFeatureKV& feature : info.getAllProcessorFeatures()) {
    if (!info.getFeatureBits().test(feature.Value)) continue;
    auto it = host.find(feature.Key);
    if (it != host.end() && !it->second) missing.emplace_back(feature.Key);
  }
  std::sort(missing.begin(), missing.end());
  return missing;
}

absl::Status CheckRunsOnHost(const llvm::TargetMachine& target) {
  std::vector<std::string> missing = MissingHostFeatures(target);
  if (missing.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "code for CPU '", target.getTargetCPU().str(), "' cannot run on this machine, which lacks ",
      absl::StrJoin(missing, ", "), " (an object file for it can still be built)"));
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
