// Fuzzes the model-file frontend through compilation to kernels: parse, lower the model and its
// train section, build the training and evaluation steps, simplify, fuse, plan memory and emit the
// CPU kernels as LLVM IR (not optimized or JIT-compiled: that is LLVM's code, and slow). Any
// outcome but a Status is a bug.
#include <cstdint>

#include "codegen/cpu/program_emitter.h"
#include "frontend/frontend.h"
#include "fuzz_input.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "tools/compile_pipeline.h"

namespace {

void CompileEntry(const kiln::frontend::ModelAst& ast, const kiln::ir::TrainConfig& train,
                  bool training) {
  kiln::tools::EntryRequest request{.training = training, .batch_size = 3};
  auto program = kiln::tools::CompileEntryProgram(ast, train, request, {});
  if (!program.ok()) return;
  llvm::LLVMContext context;
  llvm::Module module("fuzz", context);
  // AVX-512's register blocks: the widest vectors, so the most masked edges.
  (void)kiln::cpu::EmitEntryPoint(module, *program, training ? "train" : "eval",
                                  kiln::cpu::kAvx512);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto ast = kiln::frontend::ParseModel(kiln::fuzz::AsString(data, size), "fuzz.kiln");
  if (!ast.ok()) return 0;
  auto train = kiln::frontend::LowerTrainConfig(*ast);
  if (!train.ok()) return 0;
  CompileEntry(*ast, *train, /*training=*/true);
  CompileEntry(*ast, *train, /*training=*/false);
  return 0;
}
