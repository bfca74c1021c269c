#include "codegen/cpu/split_model.h"

#include <map>

#include "codegen/cpu/code_cache.h"
#include "codegen/cpu/kernel_emitter.h"
#include "codegen/cpu/program_emitter.h"
#include "llvm/Bitcode/BitcodeWriter.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/Support/raw_ostream.h"
#include "support/status.h"

namespace kiln::cpu {
namespace {

// Every body is emitted under this name and module name, so equal kernels print equal IR; the
// name it is linked by then comes from that IR.
constexpr const char* kPlaceholderName = "kiln_kernel";

// Builds the bodies of one model, sharing each distinct one.
class BodyCollector {
 public:
  BodyCollector(SplitModel& out, const VectorIsa& isa) : out_(out), isa_(isa) {}

  // Emits `kernel` as a body (or finds its twin) and returns the wrapper the entry calls.
  absl::StatusOr<EmittedKernel> Add(const ir::KernelProgram& program, const ir::Kernel& kernel) {
    ++out_.num_kernels;
    KernelBody body;
    body.context = std::make_unique<llvm::LLVMContext>();
    body.module = std::make_unique<llvm::Module>(kPlaceholderName, *body.context);
    ir::Kernel placeholder = kernel;
    placeholder.name = kPlaceholderName;
    std::vector<int> slot_table;
    KILN_ASSIGN_OR_RETURN(
        EmittedKernel emitted,
        EmitKernel(*body.module, program.graph, placeholder, program.memory, isa_, &slot_table));
    auto [it, inserted] = names_.try_emplace(ModuleBitcode(*body.module), "");
    if (inserted) {
      // A 128-bit prefix of the digest: distinct kernels never share a name.
      it->second =
          std::string(kPlaceholderName) + "_" + CodeKey{.ir = it->first}.Digest().substr(0, 32);
      emitted.function->setName(it->second);
      body.name = it->second;
      out_.bodies.push_back(std::move(body));
    }
    emitted.function = Wrapper(kernel.name, it->second, slot_table);
    return emitted;
  }

 private:
  // `void name(ptr slots, i64 begin, i64 end)`: copies the body's buffers from the entry's slots
  // into the body's table and runs the body over the same tasks.
  llvm::Function* Wrapper(const std::string& name, const std::string& body,
                          const std::vector<int>& slot_table) {
    llvm::Module& module = *out_.entries;
    llvm::LLVMContext& ctx = module.getContext();
    llvm::IRBuilder<> b(ctx);
    auto* ptr = b.getPtrTy();
    auto* type =
        llvm::FunctionType::get(b.getVoidTy(), {ptr, b.getInt64Ty(), b.getInt64Ty()}, false);
    llvm::FunctionCallee callee = module.getOrInsertFunction(body, type);
    auto* wrapper = llvm::Function::Create(type, llvm::Function::ExternalLinkage, name, module);
    b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", wrapper));
    auto* table_type = llvm::ArrayType::get(ptr, slot_table.size());
    llvm::Value* table = b.CreateAlloca(table_type, nullptr, "table");
    for (size_t i = 0; i < slot_table.size(); ++i) {
      llvm::Value* from = b.CreateConstInBoundsGEP1_64(ptr, wrapper->getArg(0), slot_table[i]);
      llvm::Value* to = b.CreateConstInBoundsGEP1_64(ptr, table, i);
      b.CreateStore(b.CreateLoad(ptr, from), to);
    }
    b.CreateCall(callee, {table, wrapper->getArg(1), wrapper->getArg(2)});
    b.CreateRetVoid();
    return wrapper;
  }

  SplitModel& out_;
  const VectorIsa& isa_;
  std::map<std::string, std::string> names_;  // Body bitcode -> its function's name.
};

}  // namespace

std::string ModuleBitcode(const llvm::Module& module) {
  std::string bitcode;
  llvm::raw_string_ostream os(bitcode);
  llvm::WriteBitcodeToFile(module, os);
  return os.str();
}

absl::StatusOr<SplitModel> SplitModelIntoKernels(const codegen::CompiledModel& model,
                                                 const VectorIsa& isa) {
  SplitModel out;
  out.context = std::make_unique<llvm::LLVMContext>();
  out.entries = std::make_unique<llvm::Module>(model.name, *out.context);
  out.spec.persistent = model.persistent;
  out.spec.features_input = model.features_input;
  out.spec.labels_input = model.labels_input;
  BodyCollector bodies(out, isa);
  for (const codegen::CompiledEntry& compiled : model.entries) {
    KILN_ASSIGN_OR_RETURN(runtime::EntrySpec entry,
                          EmitEntryPointWith(*out.entries, compiled.program, compiled.symbol,
                                             [&](const ir::Kernel& kernel) {
                                               return bodies.Add(compiled.program, kernel);
                                             }));
    entry.training = compiled.request.training;
    entry.batch_size = compiled.request.batch_size;
    out.spec.entries.push_back(std::move(entry));
  }
  return out;
}

}  // namespace kiln::cpu
