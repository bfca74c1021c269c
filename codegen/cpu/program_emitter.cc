#include "codegen/cpu/program_emitter.h"

#include "absl/strings/str_cat.h"
#include "codegen/cpu/kernel_emitter.h"
#include "codegen/kernel_cost.h"
#include "codegen/kernel_origin.h"
#include "ir/op_registry.h"
#include "llvm/IR/IRBuilder.h"
#include "support/status.h"

namespace kiln::cpu {
namespace {

runtime::BufferRole RoleOf(ir::BufferKind kind) {
  switch (kind) {
    case ir::BufferKind::kInput: return runtime::BufferRole::kInput;
    case ir::BufferKind::kPersistent: return runtime::BufferRole::kPersistent;
    case ir::BufferKind::kOutput: return runtime::BufferRole::kOutput;
    case ir::BufferKind::kTemp: return runtime::BufferRole::kTemp;
  }
  return runtime::BufferRole::kTemp;
}

runtime::EntrySpec DescribeBuffers(const ir::BufferAssignment& memory, const std::string& symbol) {
  runtime::EntrySpec spec;
  spec.symbol = symbol;
  spec.arena_bytes = memory.arena_bytes;
  for (const ir::Buffer& buffer : memory.buffers) {
    runtime::BufferSpec b;
    b.name = buffer.name;
    b.role = RoleOf(buffer.kind);
    b.type = buffer.type.dtype == ir::DType::kI64 ? runtime::ElementType::kI64
                                                   : runtime::ElementType::kF32;
    b.shape = buffer.type.shape;
    b.arena_offset = buffer.offset;
    b.bytes = buffer.type.bytes();
    spec.buffers.push_back(std::move(b));
  }
  return spec;
}

std::vector<int> OutputBuffers(const ir::BufferAssignment& memory, const ir::Kernel& kernel) {
  std::vector<int> buffers;
  for (ir::NodeId id : kernel.outputs) buffers.push_back(memory.node_buffer[id]);
  return buffers;
}

// A kernel rooted at a collective (all_reduce): its kernel computes the local value (world size
// 1: the answer); the runtime's communicator then combines it across ranks.
bool IsCollective(const ir::Graph& graph, const ir::Kernel& kernel) {
  return ir::OpOf(graph.node(kernel.root)).Has(ir::kCollective);
}

// if (parallel->all_reduce_mean) parallel->all_reduce_mean(parallel->comm, buffer, count);
// The runtime owns the communicator; generated code never links MPI or NCCL.
void EmitAllReduceCall(llvm::IRBuilder<>& b, llvm::Function* entry, llvm::Value* slots,
                       llvm::Value* parallel, llvm::FunctionType* all_reduce_type,
                       const ir::KernelProgram& program, const ir::Kernel& kernel) {
  llvm::LLVMContext& ctx = b.getContext();
  auto* ptr = b.getPtrTy();
  const ir::Node& root = program.graph.node(kernel.root);
  const int buffer = program.memory.node_buffer[kernel.root];
  llvm::Value* comm = b.CreateLoad(ptr, b.CreateConstInBoundsGEP1_64(ptr, parallel, 2), "comm");
  llvm::Value* hook =
      b.CreateLoad(ptr, b.CreateConstInBoundsGEP1_64(ptr, parallel, 3), "all_reduce_mean");
  auto* call_block = llvm::BasicBlock::Create(ctx, "all_reduce", entry);
  auto* next_block = llvm::BasicBlock::Create(ctx, "after_all_reduce", entry);
  b.CreateCondBr(b.CreateIsNotNull(hook), call_block, next_block);
  b.SetInsertPoint(call_block);
  llvm::Value* data =
      b.CreateLoad(ptr, b.CreateConstInBoundsGEP1_64(ptr, slots, buffer), "bucket");
  b.CreateCall(all_reduce_type, hook, {comm, data, b.getInt64(root.type.num_elements())});
  b.CreateBr(next_block);
  b.SetInsertPoint(next_block);
}

}  // namespace

absl::StatusOr<runtime::EntrySpec> EmitEntryPoint(llvm::Module& module,
                                                  const ir::KernelProgram& program,
                                                  const std::string& symbol, const VectorIsa& isa) {
  return EmitEntryPointWith(module, program, symbol, [&](const ir::Kernel& kernel) {
    return EmitKernel(module, program.graph, kernel, program.memory, isa);
  });
}

absl::StatusOr<runtime::EntrySpec> EmitEntryPointWith(llvm::Module& module,
                                                      const ir::KernelProgram& program,
                                                      const std::string& symbol,
                                                      const KernelFunctionMaker& make_kernel) {
  llvm::LLVMContext& ctx = module.getContext();
  llvm::IRBuilder<> b(ctx);
  auto* ptr = b.getPtrTy();
  auto* entry_type = llvm::FunctionType::get(b.getVoidTy(), {ptr, ptr}, false);
  auto* entry = llvm::Function::Create(entry_type, llvm::Function::ExternalLinkage, symbol, module);
  llvm::Value* slots = entry->getArg(0);
  llvm::Value* parallel = entry->getArg(1);
  slots->setName("slots");
  parallel->setName("parallel");
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", entry));

  // struct KilnParallel { void* pool; void (*run)(void*, KilnTaskFn, void**, int64_t);
  //                       void* comm; void (*all_reduce_mean)(void*, float*, int64_t); }
  llvm::Value* pool = b.CreateLoad(ptr, parallel, "pool");
  llvm::Value* run = b.CreateLoad(ptr, b.CreateConstInBoundsGEP1_64(ptr, parallel, 1), "run");
  auto* task_type = llvm::FunctionType::get(b.getVoidTy(), {ptr, b.getInt64Ty(), b.getInt64Ty()},
                                            false);
  auto* run_type = llvm::FunctionType::get(b.getVoidTy(), {ptr, ptr, ptr, b.getInt64Ty()}, false);
  auto* all_reduce_type =
      llvm::FunctionType::get(b.getVoidTy(), {ptr, ptr, b.getInt64Ty()}, false);

  runtime::EntrySpec spec = DescribeBuffers(program.memory, symbol);
  const codegen::KernelOrigins origins(program.graph);
  for (const ir::Kernel& original : program.kernels) {
    ir::Kernel kernel = original;
    kernel.name = absl::StrCat(symbol, "_", original.name);
    KILN_ASSIGN_OR_RETURN(EmittedKernel emitted, make_kernel(kernel));
    const bool collective = IsCollective(program.graph, original);
    spec.kernels.push_back({kernel.name, emitted.num_tasks, emitted.parallel,
                            codegen::KernelFlops(program.graph, kernel),
                            codegen::KernelBytes(program.graph, kernel),
                            OutputBuffers(program.memory, kernel), origins.Describe(original),
                            collective});
    if (!emitted.parallel) {
      b.CreateCall(task_type, emitted.function,
                   {slots, b.getInt64(0), b.getInt64(emitted.num_tasks)});
    } else {
      b.CreateCall(run_type, run, {pool, emitted.function, slots, b.getInt64(emitted.num_tasks)});
    }
    if (collective) EmitAllReduceCall(b, entry, slots, parallel, all_reduce_type, program, original);
  }
  b.CreateRetVoid();
  return spec;
}

}  // namespace kiln::cpu
