// State shared by the emitters of one CPU kernel function (codegen/cpu/kernel_emitter.cc for
// loops and matmuls, reduction_emitter.cc for reductions): the function being built, its
// buffers' base pointers, and loop-building helpers.
#ifndef KILN_CODEGEN_CPU_KERNEL_CONTEXT_H_
#define KILN_CODEGEN_CPU_KERNEL_CONTEXT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "codegen/cpu/llvm_scalar_builder.h"
#include "codegen/cpu/vector_isa.h"
#include "codegen/fused_evaluator.h"
#include "ir/kernel_program.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Module.h"

namespace kiln::cpu {

// Below this many elements a kernel runs on one thread: waking the other costs more than it saves.
constexpr int64_t kMinParallelElements = 16384;
constexpr double kMinParallelFlops = 1e6;

inline kernel::ScalarType ScalarTypeOf(ir::DType dtype) {
  return dtype == ir::DType::kI64 ? kernel::ScalarType::kI64 : kernel::ScalarType::kF32;
}

// State shared by the emitters of one kernel function.
class KernelContext {
 public:
  // With `slot_table`, the function's `slots` argument is the kernel's own table of buffer
  // pointers (see EmitKernel) and Slot appends each buffer it is first asked for to it.
  KernelContext(llvm::Module& module, const ir::Graph& graph, const ir::Kernel& kernel,
                const ir::BufferAssignment& memory, const VectorIsa& isa,
                std::vector<int>* slot_table = nullptr)
      : module_(module),
        graph_(graph),
        kernel_(kernel),
        memory_(memory),
        isa_(isa),
        b_(module.getContext()),
        slot_table_(slot_table) {}

  // Creates the kernel function `void name(ptr slots, i64 begin, i64 end)` and its entry block.
  void CreateFunction() {
    llvm::LLVMContext& ctx = module_.getContext();
    auto* ptr = llvm::PointerType::get(ctx, 0);
    auto* fn_type = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx),
                                            {ptr, b_.getInt64Ty(), b_.getInt64Ty()}, false);
    function_ = llvm::Function::Create(fn_type, llvm::Function::ExternalLinkage, kernel_.name,
                                       module_);
    function_->getArg(0)->setName("slots");
    function_->getArg(1)->setName("begin");
    function_->getArg(2)->setName("end");
    function_->addParamAttr(0, llvm::Attribute::NoAlias);
    // The loop vectorizer may use the target's widest registers (some CPUs prefer narrower).
    function_->addFnAttr("prefer-vector-width", std::to_string(isa_.bits()));
    entry_ = llvm::BasicBlock::Create(ctx, "entry", function_);
    b_.SetInsertPoint(entry_);
  }

  // Works inside a function made by someone else with the same ABI (the GEMM emitter's).
  void Attach(llvm::Function* function) {
    if (function_ == function) return;
    function_ = function;
    entry_ = &function->getEntryBlock();
    pointers_.clear();
  }

  llvm::IRBuilder<>& b() { return b_; }
  llvm::Module& module() { return module_; }
  llvm::Function* function() { return function_; }
  llvm::Value* begin() { return function_->getArg(1); }
  llvm::Value* end() { return function_->getArg(2); }
  llvm::Value* slots() { return function_->getArg(0); }
  const ir::Graph& graph() const { return graph_; }
  const VectorIsa& isa() const { return isa_; }
  const ir::Kernel& kernel() const { return kernel_; }
  const ir::Node& node(ir::NodeId id) const { return graph_.node(id); }

  // Whether `id` has a buffer (inlined generators and fused intermediates have none).
  bool HasBuffer(ir::NodeId id) const { return memory_.node_buffer[id] >= 0; }

  // The index in `slots` of `id`'s buffer.
  int Slot(ir::NodeId id) const {
    const int buffer = memory_.node_buffer[id];
    if (slot_table_ == nullptr) return buffer;
    for (size_t i = 0; i < slot_table_->size(); ++i) {
      if ((*slot_table_)[i] == buffer) return static_cast<int>(i);
    }
    slot_table_->push_back(buffer);
    return static_cast<int>(slot_table_->size()) - 1;
  }

  // The base pointer of `id`'s buffer, loaded once in the entry block.
  llvm::Value* Pointer(ir::NodeId id) {
    int slot = Slot(id);
    auto it = pointers_.find(slot);
    if (it != pointers_.end()) return it->second;
    llvm::IRBuilder<> entry(entry_, entry_->begin());
    llvm::Value* address = entry.CreateConstInBoundsGEP1_64(entry.getPtrTy(), slots(), slot);
    llvm::Value* pointer = entry.CreateLoad(entry.getPtrTy(), address, absl::StrCat("buf", slot));
    pointers_[slot] = pointer;
    return pointer;
  }

  llvm::Type* ElementType(ir::NodeId id) {
    return node(id).type.dtype == ir::DType::kI64 ? b_.getInt64Ty() : b_.getFloatTy();
  }

  // Row-major linear index of scalar coordinates in `shape`.
  llvm::Value* LinearIndex(const std::vector<llvm::Value*>& coords, const ir::Shape& shape) {
    std::vector<int64_t> strides = ir::RowMajorStrides(shape);
    llvm::Value* index = b_.getInt64(0);
    for (size_t d = 0; d < coords.size(); ++d) {
      if (shape[d] == 1) continue;
      index = b_.CreateAdd(index, b_.CreateMul(coords[d], b_.getInt64(strides[d])), "", true, true);
    }
    return index;
  }

  llvm::Value* ElementPointer(ir::NodeId id, llvm::Value* index) {
    return b_.CreateInBoundsGEP(ElementType(id), Pointer(id), index);
  }

  // for (i = lo; i < hi; ++i) body(i), leaving the builder after the loop.
  // `unroll` false: LLVM must not unroll the loop (its body holds a vectorized loop of its own,
  // which unrolling would copy with all its runtime checks and epilogues).
  void Loop(llvm::Value* lo, llvm::Value* hi, const std::function<void(llvm::Value*)>& body,
            bool unroll = true) {
    llvm::LLVMContext& ctx = module_.getContext();
    llvm::BasicBlock* preheader = b_.GetInsertBlock();
    auto* header = llvm::BasicBlock::Create(ctx, "loop", function_);
    auto* body_block = llvm::BasicBlock::Create(ctx, "body", function_);
    auto* exit = llvm::BasicBlock::Create(ctx, "exit", function_);
    b_.CreateBr(header);
    b_.SetInsertPoint(header);
    llvm::PHINode* i = b_.CreatePHI(b_.getInt64Ty(), 2, "i");
    i->addIncoming(lo, preheader);
    b_.CreateCondBr(b_.CreateICmpSLT(i, hi), body_block, exit);
    b_.SetInsertPoint(body_block);
    body(i);
    llvm::Value* next = b_.CreateAdd(i, b_.getInt64(1), "", true, true);
    i->addIncoming(next, b_.GetInsertBlock());
    llvm::BranchInst* latch = b_.CreateBr(header);
    if (!unroll) {
      llvm::Metadata* disable =
          llvm::MDNode::get(ctx, llvm::MDString::get(ctx, "llvm.loop.unroll.disable"));
      llvm::MDNode* loop_id = llvm::MDNode::getDistinct(ctx, {nullptr, disable});
      loop_id->replaceOperandWith(0, loop_id);
      latch->setMetadata(llvm::LLVMContext::MD_loop, loop_id);
    }
    b_.SetInsertPoint(exit);
  }

  // Which loops of a nest LLVM may unroll (Loop).
  enum class Unroll { kAll, kInnermost, kNone };

  // Nested loops over `shape`; dim `parallel_dim` (if >= 0) runs over [begin, end) only.
  void LoopNest(const ir::Shape& shape, int parallel_dim,
                const std::function<void(const std::vector<llvm::Value*>&)>& body,
                Unroll unroll = Unroll::kAll) {
    TiledLoopNest(shape, parallel_dim, /*tiled=*/-1, /*block=*/1, body, unroll);
  }

  // LoopNest with dim `tiled` (if >= 0) walked in blocks of `block`: the loop over blocks stands
  // where the dim's loop would, the loop within a block goes innermost (codegen/loop_order.h
  // says why).
  void TiledLoopNest(const ir::Shape& shape, int parallel_dim, int tiled, int64_t block,
                     const std::function<void(const std::vector<llvm::Value*>&)>& body,
                     Unroll unroll = Unroll::kAll) {
    std::vector<llvm::Value*> coords(shape.size());
    llvm::Value* block_start = nullptr;
    const bool unroll_inner = unroll != Unroll::kNone, unroll_outer = unroll == Unroll::kAll;
    std::function<void(size_t)> nest = [&](size_t d) {
      if (d == shape.size() && tiled < 0) return body(coords);
      if (d == shape.size()) {
        // Within the block; the last block is shorter when block does not divide the dim.
        const int64_t extent = shape[tiled];
        llvm::Value* stop = b_.CreateAdd(block_start, b_.getInt64(block));
        if (extent % block != 0) {
          stop = b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, stop, b_.getInt64(extent));
        }
        return Loop(block_start, stop, [&](llvm::Value* i) {
          coords[tiled] = i;
          body(coords);
        }, unroll_inner);
      }
      if (static_cast<int>(d) == tiled) {
        const int64_t blocks = (shape[d] + block - 1) / block;
        return Loop(b_.getInt64(0), b_.getInt64(blocks), [&](llvm::Value* i) {
          block_start = b_.CreateMul(i, b_.getInt64(block));
          nest(d + 1);
        }, unroll_outer);
      }
      bool split = static_cast<int>(d) == parallel_dim;
      const bool innermost = tiled < 0 && d + 1 == shape.size();
      Loop(split ? begin() : b_.getInt64(0), split ? end() : b_.getInt64(shape[d]),
           [&](llvm::Value* i) {
             coords[d] = i;
             nest(d + 1);
           }, innermost ? unroll_inner : unroll_outer);
    };
    nest(0);
  }

  void Finish() { b_.CreateRetVoid(); }

 private:
  llvm::Module& module_;
  const ir::Graph& graph_;
  const ir::Kernel& kernel_;
  const ir::BufferAssignment& memory_;
  const VectorIsa isa_;
  llvm::IRBuilder<> b_;
  llvm::Function* function_ = nullptr;
  llvm::BasicBlock* entry_ = nullptr;
  std::map<int, llvm::Value*> pointers_;
  std::vector<int>* slot_table_;
};

// Scalar loads: coordinates are plain i64 values.
inline codegen::FusedEvaluator::LoadFn ScalarLoader(KernelContext& k, LlvmScalarBuilder& sb) {
  return [&k, &sb](ir::NodeId id, std::span<const kernel::Value> coords) {
    std::vector<llvm::Value*> raw;
    for (const kernel::Value& c : coords) raw.push_back(sb.Unwrap(c));
    llvm::Value* index = k.LinearIndex(raw, k.node(id).type.shape);
    llvm::Value* v = k.b().CreateLoad(k.ElementType(id), k.ElementPointer(id, index));
    return sb.Wrap(v, ScalarTypeOf(k.node(id).type.dtype));
  };
}

inline std::vector<kernel::Value> WrapCoords(LlvmScalarBuilder& sb,
                                             const std::vector<llvm::Value*>& c) {
  std::vector<kernel::Value> coords;
  for (llvm::Value* v : c) coords.push_back(sb.Wrap(v, kernel::ScalarType::kI64));
  return coords;
}

inline int64_t TasksFor(const ir::Shape& shape, int parallel_dim) {
  if (parallel_dim < 0 || ir::NumElements(shape) < kMinParallelElements) return 1;
  return shape[parallel_dim];
}

}  // namespace kiln::cpu

#endif  // KILN_CODEGEN_CPU_KERNEL_CONTEXT_H_
