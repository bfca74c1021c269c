#include "codegen/cpu/kernel_emitter.h"

#include <functional>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "codegen/cpu/gemm_emitter.h"
#include "codegen/cpu/llvm_scalar_builder.h"
#include "codegen/fused_evaluator.h"
#include "ir/op_registry.h"
#include "llvm/IR/IRBuilder.h"

namespace kiln::cpu {
namespace {

using ir::NodeId;
using kernel::ScalarType;

// Below this many elements a kernel runs on one thread: waking the other costs more than it saves.
constexpr int64_t kMinParallelElements = 16384;
constexpr double kMinParallelFlops = 1e6;

ScalarType ScalarTypeOf(ir::DType dtype) {
  return dtype == ir::DType::kI64 ? ScalarType::kI64 : ScalarType::kF32;
}

// State shared by the emitters of one kernel function.
class KernelContext {
 public:
  KernelContext(llvm::Module& module, const ir::Graph& graph, const ir::Kernel& kernel,
                const ir::BufferAssignment& memory)
      : module_(module), graph_(graph), kernel_(kernel), memory_(memory),
        b_(module.getContext()) {}

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
    function_->addFnAttr("prefer-vector-width", "512");
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
  const ir::Kernel& kernel() const { return kernel_; }
  const ir::Node& node(NodeId id) const { return graph_.node(id); }

  int Slot(NodeId id) const { return memory_.node_buffer[id]; }

  // The base pointer of `id`'s buffer, loaded once in the entry block.
  llvm::Value* Pointer(NodeId id) {
    int slot = Slot(id);
    auto it = pointers_.find(slot);
    if (it != pointers_.end()) return it->second;
    llvm::IRBuilder<> entry(entry_, entry_->begin());
    llvm::Value* address = entry.CreateConstInBoundsGEP1_64(entry.getPtrTy(), slots(), slot);
    llvm::Value* pointer = entry.CreateLoad(entry.getPtrTy(), address, absl::StrCat("buf", slot));
    pointers_[slot] = pointer;
    return pointer;
  }

  llvm::Type* ElementType(NodeId id) {
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

  llvm::Value* ElementPointer(NodeId id, llvm::Value* index) {
    return b_.CreateInBoundsGEP(ElementType(id), Pointer(id), index);
  }

  // for (i = lo; i < hi; ++i) body(i), leaving the builder after the loop.
  void Loop(llvm::Value* lo, llvm::Value* hi, const std::function<void(llvm::Value*)>& body) {
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
    b_.CreateBr(header);
    b_.SetInsertPoint(exit);
  }

  // Nested loops over `shape`; dim `parallel_dim` (if >= 0) runs over [begin, end) only.
  void LoopNest(const ir::Shape& shape, int parallel_dim,
                const std::function<void(const std::vector<llvm::Value*>&)>& body) {
    std::vector<llvm::Value*> coords;
    std::function<void(size_t)> nest = [&](size_t d) {
      if (d == shape.size()) return body(coords);
      bool split = static_cast<int>(d) == parallel_dim;
      Loop(split ? begin() : b_.getInt64(0), split ? end() : b_.getInt64(shape[d]),
           [&](llvm::Value* i) {
             coords.push_back(i);
             nest(d + 1);
             coords.pop_back();
           });
    };
    nest(0);
  }

  void Finish() { b_.CreateRetVoid(); }

 private:
  llvm::Module& module_;
  const ir::Graph& graph_;
  const ir::Kernel& kernel_;
  const ir::BufferAssignment& memory_;
  llvm::IRBuilder<> b_;
  llvm::Function* function_ = nullptr;
  llvm::BasicBlock* entry_ = nullptr;
  std::map<int, llvm::Value*> pointers_;
};

// Scalar loads: coordinates are plain i64 values.
codegen::FusedEvaluator::LoadFn ScalarLoader(KernelContext& k, LlvmScalarBuilder& sb) {
  return [&k, &sb](NodeId id, std::span<const kernel::Value> coords) {
    std::vector<llvm::Value*> raw;
    for (const kernel::Value& c : coords) raw.push_back(sb.Unwrap(c));
    llvm::Value* index = k.LinearIndex(raw, k.node(id).type.shape);
    llvm::Value* v = k.b().CreateLoad(k.ElementType(id), k.ElementPointer(id, index));
    return sb.Wrap(v, ScalarTypeOf(k.node(id).type.dtype));
  };
}

std::vector<kernel::Value> WrapCoords(LlvmScalarBuilder& sb, const std::vector<llvm::Value*>& c) {
  std::vector<kernel::Value> coords;
  for (llvm::Value* v : c) coords.push_back(sb.Wrap(v, ScalarType::kI64));
  return coords;
}

int64_t TasksFor(const ir::Shape& shape, int parallel_dim) {
  if (parallel_dim < 0 || ir::NumElements(shape) < kMinParallelElements) return 1;
  return shape[parallel_dim];
}

absl::StatusOr<EmittedKernel> EmitLoopKernel(KernelContext& k) {
  const ir::Shape& shape = k.node(k.kernel().root).type.shape;
  int64_t tasks = TasksFor(shape, shape.empty() ? -1 : 0);
  LlvmScalarBuilder sb(k.b(), 1);
  codegen::FusedEvaluator eval(k.graph(), k.kernel(), sb, ScalarLoader(k, sb));
  k.LoopNest(shape, tasks > 1 ? 0 : -1, [&](const std::vector<llvm::Value*>& coords) {
    eval.Reset();
    std::vector<kernel::Value> wrapped = WrapCoords(sb, coords);
    llvm::Value* index = k.LinearIndex(coords, shape);
    for (NodeId out : k.kernel().outputs) {
      kernel::Value v = eval.Evaluate(out, wrapped);
      k.b().CreateStore(sb.Unwrap(v), k.ElementPointer(out, index));
    }
  });
  k.Finish();
  return EmittedKernel{k.function(), tasks, tasks > 1};
}

// Reductions. When the reduced dims are the innermost ones, each output element is folded in a
// register; otherwise the fold accumulates into the output buffer in the input's memory order,
// which keeps the innermost loop contiguous (and vectorizable) for column sums like bias grads.
absl::StatusOr<EmittedKernel> EmitReductionKernel(KernelContext& k) {
  const ir::Node& root = k.node(k.kernel().root);
  const ir::OpDef& def = ir::OpOf(root);
  NodeId operand = root.operands[0];
  const ir::Shape& in_shape = k.node(operand).type.shape;
  const int rank = static_cast<int>(in_shape.size());
  std::vector<bool> reduced(rank, false);
  for (int64_t d : root.attrs.GetInts("dims")) reduced[d < 0 ? d + rank : d] = true;
  int first_reduced = rank;
  while (first_reduced > 0 && reduced[first_reduced - 1]) --first_reduced;
  bool trailing = true;
  for (int d = 0; d < first_reduced; ++d) trailing = trailing && !reduced[d];
  if (k.node(operand).type.dtype != ir::DType::kF32) {
    return absl::UnimplementedError(absl::StrCat("reduction of ", k.node(operand).type.ToString()));
  }
  ir::ReduceKind kind = def.reduce_kind;
  int parallel_dim = -1;
  for (int d = 0; d < rank && parallel_dim < 0; ++d) {
    if (!reduced[d]) parallel_dim = d;
  }
  int64_t tasks = TasksFor(in_shape, parallel_dim);
  if (tasks == 1) parallel_dim = -1;

  llvm::IRBuilder<>& b = k.b();
  LlvmScalarBuilder sb(b, 1);
  codegen::FusedEvaluator eval(k.graph(), k.kernel(), sb, ScalarLoader(k, sb));
  llvm::Type* f32 = b.getFloatTy();
  constexpr double kInf = std::numeric_limits<double>::infinity();
  double init = kind == ir::ReduceKind::kSum ? 0.0 : kind == ir::ReduceKind::kMin ? kInf : -kInf;
  // The output index of input coordinates: drop reduced dims (keepdim's 1-sized dims index 0).
  auto output_index = [&](const std::vector<llvm::Value*>& coords) {
    std::vector<llvm::Value*> kept;
    for (int d = 0; d < rank; ++d) {
      if (!reduced[d]) kept.push_back(coords[d]);
    }
    std::vector<int64_t> kept_shape;
    for (int d = 0; d < rank; ++d) {
      if (!reduced[d]) kept_shape.push_back(in_shape[d]);
    }
    return k.LinearIndex(kept, kept_shape);
  };
  auto combine = [&](llvm::Value* acc, llvm::Value* x) -> llvm::Value* {
    if (kind == ir::ReduceKind::kSum) {
      llvm::FastMathFlags fmf;
      fmf.setAllowReassoc();  // Lets the vectorizer split the sum into lanes.
      b.setFastMathFlags(fmf);
      llvm::Value* sum = b.CreateFAdd(acc, x);
      b.clearFastMathFlags();
      return sum;
    }
    // llvm.minimum/maximum propagate NaN, as torch.min/max reductions do (minnum would drop
    // it); the vectorizer knows them as reductions.
    if (kind == ir::ReduceKind::kMin) return b.CreateBinaryIntrinsic(llvm::Intrinsic::minimum, acc, x);
    return b.CreateBinaryIntrinsic(llvm::Intrinsic::maximum, acc, x);
  };
  NodeId out = k.kernel().outputs[0];

  // argmax needs the register form whatever its dim (the index travels with the running max):
  // loop over the kept dims outside and the reduced dims inside, in the input's coordinates.
  if (trailing || kind == ir::ReduceKind::kArgMax) {
    ir::Shape outer, inner;
    for (int d = 0; d < rank; ++d) (reduced[d] ? inner : outer).push_back(in_shape[d]);
    if (!trailing) parallel_dim = tasks > 1 ? 0 : -1;  // The first kept dim leads `outer`.
    auto input_coords = [&](const std::vector<llvm::Value*>& outer_coords,
                            const std::vector<llvm::Value*>& inner_coords) {
      std::vector<llvm::Value*> coords;
      size_t o = 0, i = 0;
      for (int d = 0; d < rank; ++d) {
        coords.push_back(reduced[d] ? inner_coords[i++] : outer_coords[o++]);
      }
      return coords;
    };
    llvm::IRBuilder<> entry(&k.function()->getEntryBlock(), k.function()->getEntryBlock().begin());
    llvm::Value* acc = entry.CreateAlloca(f32, nullptr, "acc");
    llvm::Value* best_index = entry.CreateAlloca(b.getInt64Ty(), nullptr, "best_index");
    k.LoopNest(outer, parallel_dim, [&](const std::vector<llvm::Value*>& outer_coords) {
      b.CreateStore(llvm::ConstantFP::get(f32, init), acc);
      b.CreateStore(b.getInt64(0), best_index);
      k.LoopNest(inner, -1, [&](const std::vector<llvm::Value*>& inner_coords) {
        std::vector<llvm::Value*> coords = input_coords(outer_coords, inner_coords);
        eval.Reset();
        llvm::Value* x = sb.Unwrap(eval.Evaluate(operand, WrapCoords(sb, coords)));
        llvm::Value* current = b.CreateLoad(f32, acc);
        if (kind == ir::ReduceKind::kArgMax) {
          // Strictly greater: the first maximum wins, as in torch.argmax, which also takes NaN
          // for the largest value (so max_pool2d, an argmax and a pick, passes NaN on).
          llvm::Value* first_nan = b.CreateAnd(b.CreateFCmpUNO(x, x), b.CreateFCmpORD(current, current));
          llvm::Value* better = b.CreateOr(b.CreateFCmpOGT(x, current), first_nan);
          b.CreateStore(b.CreateSelect(better, x, current), acc);
          llvm::Value* old_index = b.CreateLoad(b.getInt64Ty(), best_index);
          b.CreateStore(b.CreateSelect(better, inner_coords.back(), old_index), best_index);
        } else {
          b.CreateStore(combine(current, x), acc);
        }
      });
      llvm::Value* index = k.LinearIndex(outer_coords, outer);
      llvm::Value* result = kind == ir::ReduceKind::kArgMax
                                ? b.CreateLoad(b.getInt64Ty(), best_index)
                                : b.CreateLoad(f32, acc);
      b.CreateStore(result, k.ElementPointer(out, index));
    });
    k.Finish();
    return EmittedKernel{k.function(), tasks, tasks > 1};
  }

  // Accumulate into the output: initialize this task's slice, then fold in memory order.
  ir::Shape kept_shape;
  std::vector<int> kept_dims;
  for (int d = 0; d < rank; ++d) {
    if (!reduced[d]) {
      kept_shape.push_back(in_shape[d]);
      kept_dims.push_back(d);
    }
  }
  int kept_parallel = -1;
  for (size_t i = 0; i < kept_dims.size(); ++i) {
    if (kept_dims[i] == parallel_dim) kept_parallel = static_cast<int>(i);
  }
  k.LoopNest(kept_shape, kept_parallel, [&](const std::vector<llvm::Value*>& coords) {
    b.CreateStore(llvm::ConstantFP::get(f32, init),
                  k.ElementPointer(out, k.LinearIndex(coords, kept_shape)));
  });
  k.LoopNest(in_shape, parallel_dim, [&](const std::vector<llvm::Value*>& coords) {
    eval.Reset();
    llvm::Value* x = sb.Unwrap(eval.Evaluate(operand, WrapCoords(sb, coords)));
    llvm::Value* slot = k.ElementPointer(out, output_index(coords));
    b.CreateStore(combine(b.CreateLoad(f32, slot), x), slot);
  });
  k.Finish();
  return EmittedKernel{k.function(), tasks, tasks > 1};
}

// Vector loads for GEMM epilogues: coordinates are [row (scalar), col .. col+W-1 (vector)].
class EpilogueLoader {
 public:
  EpilogueLoader(KernelContext& k, LlvmScalarBuilder& sb, kernel::Value lane_coord,
                 llvm::Value* lane0, int lanes)
      : k_(k), sb_(sb), lane_coord_(lane_coord), lane0_(lane0), lanes_(lanes) {}

  // Scalar form of a coordinate: the column vector's first lane, or the splatted scalar.
  llvm::Value* ScalarCoord(kernel::Value c, llvm::IRBuilderBase& b) {
    if (c.id == lane_coord_.id) return lane0_;
    auto it = scalars_.find(c.id);
    if (it != scalars_.end()) return it->second;
    return b.CreateExtractElement(sb_.Unwrap(c), uint64_t{0});
  }
  void RememberScalar(kernel::Value c, llvm::Value* scalar) { scalars_[c.id] = scalar; }

  kernel::Value Load(NodeId id, std::span<const kernel::Value> coords) {
    llvm::IRBuilder<>& b = k_.b();
    const ir::TensorType& type = k_.node(id).type;
    std::vector<llvm::Value*> scalar;
    int lane_dim = -1;
    for (size_t d = 0; d < coords.size(); ++d) {
      if (coords[d].id == lane_coord_.id) lane_dim = static_cast<int>(d);
      scalar.push_back(ScalarCoord(coords[d], b));
    }
    llvm::Value* index = k_.LinearIndex(scalar, type.shape);
    llvm::Value* pointer = k_.ElementPointer(id, index);
    llvm::Type* element = k_.ElementType(id);
    ScalarType st = ScalarTypeOf(type.dtype);
    if (lane_dim < 0) return sb_.Wrap(sb_.Splat(b.CreateLoad(element, pointer)), st);
    const int width = sb_.width();
    auto* vector_type = llvm::FixedVectorType::get(element, width);
    if (lane_dim == static_cast<int>(type.shape.size()) - 1) {
      if (lanes_ == width) return sb_.Wrap(b.CreateAlignedLoad(vector_type, pointer, llvm::Align(4)), st);
      return sb_.Wrap(b.CreateMaskedLoad(vector_type, pointer, llvm::Align(4), Mask(b),
                                         llvm::Constant::getNullValue(vector_type)), st);
    }
    // The column coordinate indexes a non-contiguous dim (a transposed read): gather lanes.
    int64_t stride = ir::RowMajorStrides(type.shape)[lane_dim];
    llvm::Value* result = llvm::Constant::getNullValue(vector_type);
    for (int lane = 0; lane < lanes_; ++lane) {
      llvm::Value* p = b.CreateInBoundsGEP(element, pointer, b.getInt64(lane * stride));
      result = b.CreateInsertElement(result, b.CreateLoad(element, p), uint64_t(lane));
    }
    return sb_.Wrap(result, st);
  }

  llvm::Value* Mask(llvm::IRBuilderBase& b) {
    std::vector<llvm::Constant*> bits;
    for (int lane = 0; lane < sb_.width(); ++lane) bits.push_back(b.getInt1(lane < lanes_));
    return llvm::ConstantVector::get(bits);
  }

 private:
  KernelContext& k_;
  LlvmScalarBuilder& sb_;
  kernel::Value lane_coord_;
  llvm::Value* lane0_;
  int lanes_;
  std::map<int32_t, llvm::Value*> scalars_;
};

bool IsUpdateValue(const ir::Graph& graph, NodeId id) {
  for (const ir::Update& u : graph.updates) {
    if (u.value == id) return true;
  }
  return false;
}

absl::StatusOr<EmittedKernel> EmitMatmulKernel(KernelContext& k) {
  const ir::Kernel& kernel = k.kernel();
  const ir::Node& mm = k.node(kernel.root);
  const ir::Shape& a_shape = k.node(mm.operands[0]).type.shape;
  GemmShape shape;
  shape.transpose_a = mm.attrs.GetInt("transpose_a") != 0;
  shape.transpose_b = mm.attrs.GetInt("transpose_b") != 0;
  shape.m = mm.type.shape[0];
  shape.n = mm.type.shape[1];
  shape.k = shape.transpose_a ? a_shape[0] : a_shape[1];
  shape.a_slot = k.Slot(mm.operands[0]);
  shape.b_slot = k.Slot(mm.operands[1]);
  NodeId stored = kernel.outputs[0];
  shape.c_slot = k.Slot(stored);

  GemmEpilogue epilogue;
  if (kernel.nodes.size() > 1 || stored != mm.id) {
    epilogue = [&k, &kernel, &mm, stored](llvm::IRBuilderBase& ib, llvm::Value* slots,
                                          llvm::Value* acc, llvm::Value* row, llvm::Value* col,
                                          int lanes) -> llvm::Value* {
      // The GEMM emitter positions its own builder; follow it.
      k.Attach(ib.GetInsertBlock()->getParent());
      k.b().SetInsertPoint(ib.GetInsertBlock(), ib.GetInsertPoint());
      const int width = GemmVectorWidth();
      LlvmScalarBuilder sb(k.b(), width);
      std::vector<llvm::Constant*> lane_ids;
      for (int lane = 0; lane < width; ++lane) lane_ids.push_back(k.b().getInt64(lane));
      llvm::Value* cols = k.b().CreateAdd(sb.Splat(col), llvm::ConstantVector::get(lane_ids));
      kernel::Value col_coord = sb.Wrap(cols, ScalarType::kI64);
      kernel::Value row_coord = sb.Wrap(sb.Splat(row), ScalarType::kI64);
      EpilogueLoader loader(k, sb, col_coord, col, lanes);
      loader.RememberScalar(row_coord, row);
      codegen::FusedEvaluator eval(k.graph(), kernel, sb,
                                   [&loader](NodeId id, std::span<const kernel::Value> c) {
                                     return loader.Load(id, c);
                                   });
      std::vector<kernel::Value> coords = {row_coord, col_coord};
      eval.Define(mm.id, coords, sb.Wrap(acc, ScalarType::kF32));
      // Compute every output before storing any: an in-place update (an optimizer step fused
      // into a weight-gradient GEMM) must read the old values of all its targets first.
      std::vector<std::pair<NodeId, llvm::Value*>> values;
      for (NodeId out : kernel.outputs) values.emplace_back(out, sb.Unwrap(eval.Evaluate(out, coords)));
      llvm::Value* result = nullptr;
      for (auto [out, value] : values) {
        if (out == stored) {
          result = value;
          continue;
        }
        llvm::Value* index = k.LinearIndex({row, col}, k.node(out).type.shape);
        k.b().CreateMaskedStore(value, k.ElementPointer(out, index), llvm::Align(4),
                                loader.Mask(k.b()));
      }
      ib.SetInsertPoint(k.b().GetInsertBlock(), k.b().GetInsertPoint());
      return result;
    };
  }
  // With K blocking the GEMM parks partial sums in C between blocks. When C is a persistent
  // tensor updated in place, its old value must survive until the epilogue reads it.
  GemmTiling tiling = ChooseGemmTiling(shape);
  for (NodeId out : kernel.outputs) {
    if (k.graph().node(out).op != "matmul" && IsUpdateValue(k.graph(), out)) tiling.kc = 0;
  }
  llvm::Function* fn = EmitGemmKernel(k.module(), kernel.name, shape, epilogue, tiling);
  // Below ~1 MFLOP a GEMM takes a few microseconds: waking a second thread costs about as much.
  bool parallel = 2.0 * shape.m * shape.n * shape.k >= kMinParallelFlops;
  return EmittedKernel{fn, GemmNumTasks(shape, tiling), parallel};
}

}  // namespace

absl::StatusOr<EmittedKernel> EmitKernel(llvm::Module& module, const ir::Graph& graph,
                                         const ir::Kernel& kernel,
                                         const ir::BufferAssignment& memory) {
  KernelContext context(module, graph, kernel, memory);
  if (kernel.kind != ir::KernelKind::kMatmul) context.CreateFunction();
  switch (kernel.kind) {
    case ir::KernelKind::kLoop: return EmitLoopKernel(context);
    case ir::KernelKind::kReduction: return EmitReductionKernel(context);
    case ir::KernelKind::kMatmul: return EmitMatmulKernel(context);
  }
  return absl::InternalError("unknown kernel kind");
}

}  // namespace kiln::cpu
