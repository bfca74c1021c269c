#include "codegen/cpu/reduction_emitter.h"

#include <functional>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "codegen/loop_order.h"
#include "codegen/reduction_geometry.h"
#include "codegen/summation_plan.h"
#include "ir/op_registry.h"
#include "support/status.h"

namespace kiln::cpu {
namespace {

using ir::NodeId;

// Max, min and argmax. When the reduced dims are the innermost ones, each output element is
// folded in a register; otherwise the fold accumulates into the output buffer in the input's
// memory order, which keeps the innermost loop contiguous (and vectorizable).
absl::StatusOr<EmittedKernel> EmitExtremumKernel(KernelContext& k,
                                                 const codegen::ReductionGeometry& geometry) {
  NodeId operand = geometry.operand;
  const ir::Shape& in_shape = geometry.in_shape;
  const int rank = static_cast<int>(in_shape.size());
  const std::vector<bool>& reduced = geometry.reduced;
  const bool trailing = geometry.trailing;
  const ir::ReduceKind kind = geometry.kind;
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
  double init = kind == ir::ReduceKind::kMin ? kInf : -kInf;
  // The output index of input coordinates: drop reduced dims (keepdim's 1-sized dims index 0).
  auto output_index = [&](const std::vector<llvm::Value*>& coords) {
    std::vector<llvm::Value*> kept;
    for (int d = 0; d < rank; ++d) {
      if (!reduced[d]) kept.push_back(coords[d]);
    }
    return k.LinearIndex(kept, geometry.kept_shape);
  };
  auto combine = [&](llvm::Value* acc, llvm::Value* x) -> llvm::Value* {
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
          // The row-major position among the reduced dims (their order in the input).
          llvm::Value* position = k.LinearIndex(inner_coords, inner);
          b.CreateStore(b.CreateSelect(better, position, old_index), best_index);
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
  const ir::Shape& kept_shape = geometry.kept_shape;
  std::vector<int> kept_dims;
  for (int d = 0; d < rank; ++d) {
    if (!reduced[d]) kept_dims.push_back(d);
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

// Sums, following codegen/summation_plan.h. Per independent iteration:
//
//   count = 0
//   for each step:                                   t = trailing ones of count
//     for each slab element s:  levels[t][s] = sum of the chunk (vector accumulators), or of
//                               the step's block of rows (plan.rows, one flat loop per row)
//     for l in 0..t-1, each s:  levels[t][s] += levels[l][s]    (the carry: a flat loop)
//     ++count
//   for each slab element s:    out = sum over the set bits l of `pushes` of levels[l][s]
//
// With one push per output there are no levels: the chunk's sum is the output.
class SumEmitter {
 public:
  // `plan` sums the operand walked in `order` (codegen::ReductionWalkOrder): its dim i is the
  // operand's dim order[i], and `walked_shape` the operand's shape in that order.
  SumEmitter(KernelContext& k, const codegen::SummationPlan& plan,
             const codegen::ReductionGeometry& geometry, std::vector<int> order,
             ir::Shape walked_shape, int64_t tasks)
      : k_(k), b_(k.b()), plan_(plan), geometry_(geometry), order_(std::move(order)),
        in_shape_(std::move(walked_shape)),
        parallel_(tasks > 1 ? plan.parallel : Parallel::kNone), unroll_(plan.rows.empty()),
        sb_(k.b(), 1), eval_(k.graph(), k.kernel(), sb_, ScalarLoader(k, sb_)),
        coords_(in_shape_.size(), nullptr), tile_base_(in_shape_.size(), nullptr) {}

  void Emit() {
    llvm::IRBuilder<> entry(&k_.function()->getEntryBlock(),
                            k_.function()->getEntryBlock().begin());
    acc_ = entry.CreateAlloca(b_.getFloatTy(), nullptr, "acc");
    if (plan_.levels > 0) {
      levels_ = entry.CreateAlloca(b_.getFloatTy(), b_.getInt64(plan_.levels * plan_.slab_size),
                                   "levels");
      count_ = entry.CreateAlloca(b_.getInt64Ty(), nullptr, "count");
    }
    Loops(plan_.independent, parallel_ == Parallel::kIndependent, [&] { Cascade(); });
    k_.Finish();
  }

 private:
  using Parallel = codegen::SummationPlan::Parallel;

  void Cascade() {
    if (plan_.levels == 0) {
      Loops(plan_.steps, false, [&] { Push([&](llvm::Value*) { return OutputPointer(); }); });
      return;
    }
    b_.CreateStore(b_.getInt64(0), count_);
    Loops(plan_.steps, false, [&] {
      llvm::Value* count = b_.CreateLoad(b_.getInt64Ty(), count_);
      llvm::Value* carries = b_.CreateBinaryIntrinsic(llvm::Intrinsic::cttz, b_.CreateNot(count),
                                                      b_.getTrue());
      llvm::Value* target = b_.CreateMul(carries, b_.getInt64(plan_.slab_size));
      Push([&](llvm::Value* s) { return Level(target, s); });
      auto [lo, hi] = SlabRange();
      k_.Loop(b_.getInt64(0), carries, [&](llvm::Value* l) {
        llvm::Value* source = b_.CreateMul(l, b_.getInt64(plan_.slab_size));
        k_.Loop(lo, hi, [&](llvm::Value* s) {
          llvm::Value* sum = b_.CreateFAdd(b_.CreateLoad(b_.getFloatTy(), Level(target, s)),
                                           b_.CreateLoad(b_.getFloatTy(), Level(source, s)));
          b_.CreateStore(sum, Level(target, s));
        });
      });
      b_.CreateStore(b_.CreateAdd(count, b_.getInt64(1)), count_);
    });
    // The occupied levels are the set bits of `pushes`; add the small partials first.
    Slab([&](llvm::Value* s) {
      llvm::Value* total = nullptr;
      for (int l = 0; l < plan_.levels; ++l) {
        if (((plan_.pushes >> l) & 1) == 0) continue;
        llvm::Value* v = b_.CreateLoad(b_.getFloatTy(), Level(b_.getInt64(l * plan_.slab_size), s));
        total = total == nullptr ? v : b_.CreateFAdd(total, v);
      }
      b_.CreateStore(total, OutputPointer());
    });
  }

  // Stores this step's sum for each slab element at destination(s): its chunk, or with rows
  // blocks the sum of the block's rows, added row by row across the slab.
  void Push(const std::function<llvm::Value*(llvm::Value*)>& destination) {
    if (plan_.rows.empty()) {
      Slab([&](llvm::Value* s) { b_.CreateStore(ChunkSum(), destination(s)); });
      return;
    }
    Slab([&](llvm::Value* s) {
      b_.CreateStore(llvm::ConstantFP::get(b_.getFloatTy(), 0.0), destination(s));
    });
    Loops(plan_.rows, false, [&] {
      Slab([&](llvm::Value* s) {
        llvm::Value* slot = destination(s);
        b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(b_.getFloatTy(), slot), ChunkSum()), slot);
      });
    });
  }

  llvm::Value* Level(llvm::Value* level_offset, llvm::Value* s) {
    return b_.CreateInBoundsGEP(b_.getFloatTy(), levels_, b_.CreateAdd(level_offset, s));
  }

  // The chunk at the current coordinates: a flat range of the chunk run (the innermost reduced
  // dims, contiguous), summed with reassociation allowed so the vectorizer spreads it over
  // several accumulators.
  llvm::Value* ChunkSum() {
    const int rank = static_cast<int>(in_shape_.size());
    if (plan_.chunk_first_dim == rank) return Element();
    llvm::Value* lo = b_.getInt64(0);
    llvm::Value* hi = b_.getInt64(plan_.chunk_run);
    if (plan_.chunk_run > plan_.chunk_size) {
      lo = b_.CreateMul(chunk_block_, b_.getInt64(plan_.chunk_size));
      llvm::Value* end = b_.CreateAdd(lo, b_.getInt64(plan_.chunk_size));
      hi = b_.CreateSelect(b_.CreateICmpSLT(end, hi), end, hi);
    }
    b_.CreateStore(llvm::ConstantFP::get(b_.getFloatTy(), 0.0), acc_);
    k_.Loop(lo, hi, [&](llvm::Value* flat) {
      // Coordinates from the flat index; division by constants, and the loads' row-major index
      // folds back to `flat`.
      int64_t stride = 1;
      for (int d = rank - 1; d >= plan_.chunk_first_dim; --d) {
        llvm::Value* c = stride == 1 ? flat : b_.CreateUDiv(flat, b_.getInt64(stride));
        if (d > plan_.chunk_first_dim) c = b_.CreateURem(c, b_.getInt64(in_shape_[d]));
        coords_[d] = c;
        stride *= in_shape_[d];
      }
      llvm::Value* x = Element();
      llvm::FastMathFlags reassoc;
      reassoc.setAllowReassoc();
      b_.setFastMathFlags(reassoc);
      b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(b_.getFloatTy(), acc_), x), acc_);
      b_.clearFastMathFlags();
    });
    return b_.CreateLoad(b_.getFloatTy(), acc_);
  }

  // The operand (with its fused producers) at the current coordinates.
  llvm::Value* Element() {
    eval_.Reset();
    return sb_.Unwrap(eval_.Evaluate(geometry_.operand, WrapCoords(sb_, OperandCoords())));
  }

  // The current coordinates in the operand's own dim order.
  std::vector<llvm::Value*> OperandCoords() const {
    std::vector<llvm::Value*> coords(coords_.size());
    for (size_t i = 0; i < order_.size(); ++i) coords[order_[i]] = coords_[i];
    return coords;
  }

  // Runs `body` for each slab element, passing its index into a level.
  void Slab(const std::function<void(llvm::Value*)>& body) {
    Loops(plan_.slab, parallel_ == Parallel::kSlab, [&] {
      llvm::Value* s = b_.getInt64(0);
      for (const codegen::SumLoop& loop : plan_.slab) {
        llvm::Value* local = coords_[loop.dim];
        if (loop.within_tile) local = b_.CreateSub(local, tile_base_[loop.dim]);
        s = b_.CreateAdd(b_.CreateMul(s, b_.getInt64(loop.extent)), local);
      }
      body(s);
    });
  }

  // The level indices this task's slab elements occupy: the first slab loop's range times the
  // elements under it (consecutive, so the carry is one flat loop).
  std::pair<llvm::Value*, llvm::Value*> SlabRange() {
    if (plan_.slab.empty()) return {b_.getInt64(0), b_.getInt64(1)};
    const codegen::SumLoop& first = plan_.slab.front();
    auto [lo, hi] = Bounds(first, parallel_ == Parallel::kSlab);
    if (first.within_tile) {
      lo = b_.CreateSub(lo, tile_base_[first.dim]);
      hi = b_.CreateSub(hi, tile_base_[first.dim]);
    }
    llvm::Value* under = b_.getInt64(plan_.slab_size / first.extent);
    return {b_.CreateMul(lo, under), b_.CreateMul(hi, under)};
  }

  std::pair<llvm::Value*, llvm::Value*> Bounds(const codegen::SumLoop& loop, bool task_range) {
    if (task_range) return {k_.begin(), k_.end()};
    if (!loop.within_tile) return {b_.getInt64(0), b_.getInt64(loop.extent)};
    llvm::Value* base = tile_base_[loop.dim];
    llvm::Value* end = b_.CreateAdd(base, b_.getInt64(loop.tile_size));
    llvm::Value* size = b_.getInt64(in_shape_[loop.dim]);
    return {base, b_.CreateSelect(b_.CreateICmpSLT(end, size), end, size)};
  }

  // Nested loops, outermost first; the first runs over the task range when `first_is_tasks`.
  void Loops(const std::vector<codegen::SumLoop>& loops, bool first_is_tasks,
             const std::function<void()>& body, size_t i = 0) {
    if (i == loops.size()) return body();
    const codegen::SumLoop& loop = loops[i];
    auto [lo, hi] = Bounds(loop, first_is_tasks && i == 0);
    k_.Loop(lo, hi, [&](llvm::Value* index) {
      if (loop.dim == codegen::kChunkBlocks) {
        chunk_block_ = index;
      } else if (loop.tiles) {
        tile_base_[loop.dim] = b_.CreateMul(index, b_.getInt64(loop.tile_size));
      } else {
        coords_[loop.dim] = index;
      }
      Loops(loops, first_is_tasks, body, i + 1);
    }, unroll_);
  }

  llvm::Value* OutputPointer() {
    const std::vector<llvm::Value*> coords = OperandCoords();
    std::vector<llvm::Value*> kept;
    for (size_t d = 0; d < coords.size(); ++d) {
      if (!geometry_.reduced[d]) kept.push_back(coords[d]);
    }
    return k_.ElementPointer(k_.kernel().outputs[0], k_.LinearIndex(kept, geometry_.kept_shape));
  }

  KernelContext& k_;
  llvm::IRBuilder<>& b_;
  const codegen::SummationPlan& plan_;
  const codegen::ReductionGeometry& geometry_;
  const std::vector<int> order_;  // Walked dim i is the operand's dim order_[i].
  const ir::Shape in_shape_;      // The operand's shape in the walked order.
  Parallel parallel_;
  // A column sum's loops (plan.rows) are not unrolled: each holds a vectorized loop across the
  // slab, which unrolling would copy with its runtime checks and epilogues. Unrolled, the 16 rows
  // of a block doubled batchnorm_mlp's compile time, and 7 copies of a 7-wide output row put
  // 1,960 IR lines into fashion_cnn's max-pool pick.
  bool unroll_;
  LlvmScalarBuilder sb_;
  codegen::FusedEvaluator eval_;
  std::vector<llvm::Value*> coords_;      // Per walked dim: its coordinate in the current loop.
  std::vector<llvm::Value*> tile_base_;  // Per tiled walked dim: the current tile's first one.
  llvm::Value* chunk_block_ = nullptr;    // The current block of the chunk run.
  llvm::Value* acc_ = nullptr;
  llvm::Value* levels_ = nullptr;  // [levels][slab_size] floats.
  llvm::Value* count_ = nullptr;   // Chunks pushed so far.
};

absl::StatusOr<EmittedKernel> EmitSumKernel(KernelContext& k,
                                            const codegen::ReductionGeometry& geometry) {
  const ir::Shape& in_shape = geometry.in_shape;
  if (ir::NumElements(in_shape) == 0) {
    // Nothing to fold: every output is 0 (an empty kept dim leaves nothing to store).
    ir::Shape out_shape = k.node(k.kernel().outputs[0]).type.shape;
    k.LoopNest(out_shape, -1, [&](const std::vector<llvm::Value*>& coords) {
      k.b().CreateStore(llvm::ConstantFP::get(k.b().getFloatTy(), 0.0),
                        k.ElementPointer(k.kernel().outputs[0], k.LinearIndex(coords, out_shape)));
    });
    k.Finish();
    return EmittedKernel{k.function(), 1, false};
  }
  std::vector<int> order =
      codegen::ReductionWalkOrder(k.graph(), k.kernel(), geometry.operand, in_shape);
  ir::Shape walked_shape;
  std::vector<bool> walked_reduced;
  for (int d : order) {
    walked_shape.push_back(in_shape[d]);
    walked_reduced.push_back(geometry.reduced[d]);
  }
  codegen::SummationPlan plan = codegen::PlanSummation(walked_shape, walked_reduced);
  int64_t tasks = 1;
  if (ir::NumElements(in_shape) >= kMinParallelElements) {
    if (plan.parallel == codegen::SummationPlan::Parallel::kIndependent) {
      tasks = plan.independent.front().extent;
    } else if (plan.parallel == codegen::SummationPlan::Parallel::kSlab) {
      tasks = plan.slab.front().extent;
    }
  }
  SumEmitter(k, plan, geometry, std::move(order), std::move(walked_shape), tasks).Emit();
  return EmittedKernel{k.function(), tasks, tasks > 1};
}

}  // namespace

absl::StatusOr<EmittedKernel> EmitReductionKernel(KernelContext& k) {
  KILN_ASSIGN_OR_RETURN(codegen::ReductionGeometry geometry,
                        codegen::AnalyzeReduction(k.graph(), k.kernel()));
  if (geometry.kind == ir::ReduceKind::kSum) return EmitSumKernel(k, geometry);
  return EmitExtremumKernel(k, geometry);
}

}  // namespace kiln::cpu
