#include "codegen/cpu/aot_object.h"

#include <vector>

#include "codegen/cpu/cpu_backend.h"
#include "codegen/cpu/llvm_target.h"
#include "codegen/cpu/object_compiler.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/DerivedTypes.h"
#include "llvm/IR/GlobalVariable.h"
#include "runtime/kernel_abi.h"
#include "support/status.h"

namespace kiln::cpu {
namespace {

llvm::GlobalVariable* ConstantGlobal(llvm::Module& module, llvm::Constant* value,
                                     const std::string& name, bool exported) {
  auto* global = new llvm::GlobalVariable(
      module, value->getType(), /*isConstant=*/true,
      exported ? llvm::GlobalValue::ExternalLinkage : llvm::GlobalValue::PrivateLinkage, value,
      name);
  return global;
}

}  // namespace

void AddAotTables(llvm::Module& module, std::string_view bundle) {
  llvm::LLVMContext& context = module.getContext();
  auto* pointer = llvm::PointerType::get(context, 0);
  auto* i64 = llvm::Type::getInt64Ty(context);
  auto* symbol = llvm::StructType::get(context, {pointer, pointer});
  std::vector<llvm::Function*> functions;
  for (llvm::Function& f : module) {
    if (!f.isDeclaration() && !f.hasLocalLinkage()) functions.push_back(&f);
  }
  std::vector<llvm::Constant*> rows;
  for (llvm::Function* f : functions) {
    llvm::Constant* name = ConstantGlobal(
        module, llvm::ConstantDataArray::getString(context, f->getName()), "kiln.name", false);
    rows.push_back(llvm::ConstantStruct::get(symbol, {name, f}));
  }
  auto* table = llvm::ArrayType::get(symbol, rows.size());
  ConstantGlobal(module, llvm::ConstantArray::get(table, rows), KILN_AOT_SYMBOLS, true);
  ConstantGlobal(module, llvm::ConstantInt::get(i64, rows.size()), KILN_AOT_SYMBOL_COUNT, true);
  llvm::GlobalVariable* data = ConstantGlobal(
      module,
      llvm::ConstantDataArray::getString(context, llvm::StringRef(bundle.data(), bundle.size()),
                                         /*AddNull=*/false),
      KILN_AOT_BUNDLE, true);
  data->setAlignment(llvm::Align(8));
  ConstantGlobal(module, llvm::ConstantInt::get(i64, bundle.size()), KILN_AOT_BUNDLE_SIZE, true);
}

absl::StatusOr<AotObject> EmitAotObject(const codegen::CompiledModel& model,
                                        const std::string& cpu, runtime::ModelBundle bundle,
                                        bool use_cache) {
  // The same objects the JIT of kiln train --cpu loads, plus the tables in the entry module.
  KILN_ASSIGN_OR_RETURN(auto target, CreateTargetMachine(cpu));
  bundle.target_cpu = target->getTargetCPU().str();
  bundle.target_features = target->getTargetFeatureString().str();
  ObjectOptions options;
  options.cpu = cpu;
  if (use_cache) options.cache = CodeCache::FromEnvironment();
  options.finish_entries = [&bundle](const runtime::ProgramSpec& spec, llvm::Module& entries) {
    bundle.program = spec;
    AddAotTables(entries, runtime::EncodeBundle(bundle));
  };
  KILN_ASSIGN_OR_RETURN(CpuObjects code, CompileObjects(model, options));
  AotObject out;
  KILN_ASSIGN_OR_RETURN(out.object, MergeObjects(code.objects));
  out.bundle = std::move(bundle);
  return out;
}

}  // namespace kiln::cpu
