#include "codegen/cpu/kernel_emitter.h"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "codegen/cpu/buffer_alias_scopes.h"
#include "codegen/cpu/gemm_emitter.h"
#include "codegen/cpu/kernel_context.h"
#include "codegen/cpu/llvm_scalar_builder.h"
#include "codegen/cpu/reduction_emitter.h"
#include "codegen/fused_evaluator.h"
#include "codegen/loop_order.h"
#include "ir/op_registry.h"
#include "ir/windowed_operand.h"
#include "llvm/IR/IRBuilder.h"

namespace kiln::cpu {
namespace {

// Elements of a transposed read's contiguous dim walked innermost at a time (LoopOrder):
// one 64-byte line of f32, so each step of the next loop out reads whole lines and the writes
// stay within block rows of the output.
constexpr int64_t kTransposeBlock = 16;
// An innermost loop at least this long (an AVX-512 vector of f32) is left to the vectorizer, and
// the loops around it are not unrolled.
constexpr int64_t kVectorizableRun = 16;

using ir::NodeId;
using kernel::ScalarType;

// Whether the kernel is elementwise ops that ignore coordinates: every value at an element is a
// function of its operands at that element (broadcast), so the loop nest may walk the index
// space in any grouping of dims.
bool IsPlainElementwise(const KernelContext& k) {
  for (NodeId id : k.kernel().nodes) {
    const ir::OpDef& def = ir::OpOf(k.node(id));
    if (!def.Has(ir::kElementwise) || def.Has(ir::kReadsCoordinates)) return false;
  }
  return true;
}

// Whether trailing dims [first, rank) of `shape` address like one dim in a value of shape `t`
// (right-aligned, broadcasting): t spans all of them (then they are t's last, contiguous dims)
// or none (broadcast along all). Dims of extent 1 in `shape` go either way.
bool TrailingDimsMerge(const ir::Shape& shape, const ir::Shape& t, int first) {
  const int offset = static_cast<int>(shape.size()) - static_cast<int>(t.size());
  bool spans = false, broadcast = false;
  for (int d = first; d < static_cast<int>(shape.size()); ++d) {
    if (shape[d] == 1) continue;
    const int64_t extent = d - offset >= 0 ? t[d - offset] : 1;
    (extent == shape[d] ? spans : broadcast) = true;
  }
  return !(spans && broadcast);
}

// The first dim of the longest run of trailing dims of the root that the nest can walk as one
// loop (at least `lowest`, and of extent > 1 so that every value spanning the run has the
// merged coordinate in its own dims).
int FirstMergedDim(const KernelContext& k, const ir::Shape& shape, int lowest) {
  const int last = static_cast<int>(shape.size()) - 1;
  std::vector<const ir::Shape*> shapes;
  for (NodeId id : k.kernel().nodes) {
    shapes.push_back(&k.node(id).type.shape);
    for (NodeId operand : k.node(id).operands) shapes.push_back(&k.node(operand).type.shape);
  }
  for (int first = lowest; first < last; ++first) {
    if (shape[first] == 1) continue;
    bool merges = true;
    for (const ir::Shape* t : shapes) merges = merges && TrailingDimsMerge(shape, *t, first);
    if (merges) return first;
  }
  return last;
}

// An elementwise kernel's nest with its trailing dims [first, rank) walked by one loop: LLVM
// sees one long contiguous inner loop to vectorize instead of short ones (a 3x3 filter, a 4x4
// feature map) that it unrolls fully and hands to the SLP vectorizer, which cost up to a second
// of O3 per kernel. The evaluator still gets a coordinate per dim: the merged loop's index in
// dim `first` and 0 in the dims after it, which is what broadcasting passes on to each value;
// loads and stores address dim `first` with stride 1 (the run is contiguous) and skip the rest.
absl::StatusOr<EmittedKernel> EmitMergedLoopKernel(KernelContext& k, int first, int64_t tasks) {
  const ir::Shape& shape = k.node(k.kernel().root).type.shape;
  ir::Shape nest(shape.begin(), shape.begin() + first);
  nest.push_back(ir::NumElements(shape) / ir::NumElements(nest));
  auto index_of = [&](const ir::Shape& t, std::span<llvm::Value* const> coords) {
    const int offset = static_cast<int>(shape.size()) - static_cast<int>(t.size());
    std::vector<int64_t> strides = ir::RowMajorStrides(t);
    llvm::Value* index = k.b().getInt64(0);
    for (int e = 0; e < static_cast<int>(t.size()) && e + offset <= first; ++e) {
      if (t[e] == 1) continue;
      int64_t stride = e + offset == first ? 1 : strides[e];
      index = k.b().CreateAdd(index, k.b().CreateMul(coords[e], k.b().getInt64(stride)), "",
                              true, true);
    }
    return index;
  };
  LlvmScalarBuilder sb(k.b(), 1);
  codegen::FusedEvaluator eval(
      k.graph(), k.kernel(), sb, [&](NodeId id, std::span<const kernel::Value> coords) {
        std::vector<llvm::Value*> raw;
        for (const kernel::Value& c : coords) raw.push_back(sb.Unwrap(c));
        llvm::Value* at = index_of(k.node(id).type.shape, raw);
        llvm::Value* v = k.b().CreateLoad(k.ElementType(id), k.ElementPointer(id, at));
        return sb.Wrap(v, ScalarTypeOf(k.node(id).type.dtype));
      });
  k.LoopNest(nest, tasks > 1 ? 0 : -1, [&](const std::vector<llvm::Value*>& loop) {
    eval.Reset();
    std::vector<llvm::Value*> coords = loop;
    while (coords.size() < shape.size()) coords.push_back(k.b().getInt64(0));
    std::vector<kernel::Value> wrapped = WrapCoords(sb, coords);
    for (NodeId out : k.kernel().outputs) {
      kernel::Value v = eval.Evaluate(out, wrapped);
      llvm::Value* index = index_of(k.node(out).type.shape, coords);
      k.b().CreateStore(sb.Unwrap(v), k.ElementPointer(out, index));
    }
  });
  k.Finish();
  return EmittedKernel{k.function(), tasks, tasks > 1};
}

// The runs of a kernel that is one data-movement op (OpDef::copy_runs) reading operands that are
// all in memory; nullopt for any other kernel.
std::optional<std::vector<ir::CopyRun>> CopyRunsOf(const KernelContext& k) {
  const ir::Kernel& kernel = k.kernel();
  if (kernel.nodes.size() != 1 || kernel.outputs.size() != 1) return std::nullopt;
  const ir::Node& root = k.node(kernel.root);
  const ir::OpDef& def = ir::OpOf(root);
  if (!def.copy_runs) return std::nullopt;
  std::vector<ir::TensorType> operands;
  for (NodeId operand : root.operands) {
    if (!k.HasBuffer(operand) || k.node(operand).type.dtype != root.type.dtype ||
        k.Slot(operand) == k.Slot(root.id)) {
      return std::nullopt;
    }
    operands.push_back(k.node(operand).type);
  }
  return def.copy_runs(root, operands);
}

// A kernel that only moves data as contiguous runs: task r copies run r (llvm.memcpy, which the
// backend turns into the best copy loop for the target).
EmittedKernel EmitCopyKernel(KernelContext& k, const std::vector<ir::CopyRun>& runs) {
  const ir::Node& root = k.node(k.kernel().root);
  llvm::IRBuilder<>& b = k.b();
  llvm::LLVMContext& ctx = k.module().getContext();
  const int64_t element_bytes = root.type.dtype == ir::DType::kI64 ? 8 : 4;
  int64_t elements = 0;
  for (size_t r = 0; r < runs.size(); ++r) {
    const ir::CopyRun& run = runs[r];
    elements += run.count;
    llvm::Value* r_value = b.getInt64(static_cast<int64_t>(r));
    llvm::Value* mine =
        b.CreateAnd(b.CreateICmpSLE(k.begin(), r_value), b.CreateICmpSGT(k.end(), r_value));
    auto* copy = llvm::BasicBlock::Create(ctx, "copy", k.function());
    auto* next = llvm::BasicBlock::Create(ctx, "next", k.function());
    b.CreateCondBr(mine, copy, next);
    b.SetInsertPoint(copy);
    llvm::Value* from = k.ElementPointer(root.operands[run.operand], b.getInt64(run.from));
    llvm::Value* to = k.ElementPointer(root.id, b.getInt64(run.to));
    b.CreateMemCpy(to, llvm::Align(4), from, llvm::Align(4), run.count * element_bytes);
    b.CreateBr(next);
    b.SetInsertPoint(next);
  }
  k.Finish();
  const int64_t tasks = static_cast<int64_t>(runs.size());
  return EmittedKernel{k.function(), tasks, tasks > 1 && elements >= kMinParallelElements};
}

absl::StatusOr<EmittedKernel> EmitLoopKernel(KernelContext& k) {
  if (std::optional<std::vector<ir::CopyRun>> runs = CopyRunsOf(k)) return EmitCopyKernel(k, *runs);
  const ir::Shape& shape = k.node(k.kernel().root).type.shape;
  int64_t tasks = TasksFor(shape, shape.empty() ? -1 : 0);
  if (shape.size() > 1 && IsPlainElementwise(k)) {
    // Dim 0 stays a loop of its own when it is split into tasks.
    int first = FirstMergedDim(k, shape, tasks > 1 ? 1 : 0);
    if (first < static_cast<int>(shape.size()) - 1) return EmitMergedLoopKernel(k, first, tasks);
  }
  LlvmScalarBuilder sb(k.b(), 1);
  codegen::FusedEvaluator eval(k.graph(), k.kernel(), sb, ScalarLoader(k, sb));
  auto body = [&](const std::vector<llvm::Value*>& coords) {
    eval.Reset();
    std::vector<kernel::Value> wrapped = WrapCoords(sb, coords);
    llvm::Value* index = k.LinearIndex(coords, shape);
    for (NodeId out : k.kernel().outputs) {
      kernel::Value v = eval.Evaluate(out, wrapped);
      k.b().CreateStore(sb.Unwrap(v), k.ElementPointer(out, index));
    }
  };
  const int parallel_dim = tasks > 1 ? 0 : -1;
  const codegen::LoopOrder order =
      codegen::ChooseLoopOrder(k.graph(), k.kernel(), shape, parallel_dim + 1);
  if (order.blocked_dim) {
    // Within a block the reads are contiguous and the store strided. Unrolled, the block went to
    // the SLP vectorizer, which starts from runs of adjacent stores and so left it scalar; rolled,
    // the loop vectorizer widens it (vector loads, the store scattered). ResNet-18's sums of four
    // zero-padded slices transposed back to [OC, C, 3, 3]: 637 -> 166 us; fashion_cnn's blocked
    // kernels (col2im, im2col from NCHW) measured the same either way.
    k.TiledLoopNest(shape, parallel_dim, *order.blocked_dim, kTransposeBlock, body,
                    KernelContext::Unroll::kNone);
  } else {
    // A strided innermost read cannot become a vector load, so unrolling gains nothing; fully
    // unrolled, a short nest (a 3x3 weight's transpose: 288 scalar copies) went to the SLP
    // vectorizer and took 0.38 s of fashion_cnn's compile for a 3 us kernel. Around an innermost
    // loop long enough to vectorize, unrolling the short outer loops only copies the vector loop
    // with its remainder: the 3x3 taps of an im2col with channels innermost and a batch norm
    // fused in became nine copies (resnet18_features' cold compile 1.19 -> 1.53 s).
    using Unroll = KernelContext::Unroll;
    Unroll unroll = Unroll::kAll;
    if (order.innermost_strided) {
      unroll = Unroll::kNone;
    } else if (!shape.empty() && shape.back() >= kVectorizableRun) {
      unroll = Unroll::kInnermost;
    }
    k.LoopNest(shape, parallel_dim, body, unroll);
  }
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
  // An operand computed inside the kernel is a windowed one (passes/fuse_kernels.cc): read it
  // from its source's buffer at the offsets that resolve it.
  MatrixOffsets offsets[2];
  int slots[2];
  for (int i = 0; i < 2; ++i) {
    const NodeId operand = mm.operands[i];
    if (std::find(kernel.nodes.begin(), kernel.nodes.end(), operand) == kernel.nodes.end()) {
      slots[i] = k.Slot(operand);
      continue;
    }
    std::optional<ir::WindowedOperand> w = ir::ResolveWindowedOperand(k.graph(), operand);
    if (!w || mm.attrs.GetInt(i == 0 ? "transpose_a" : "transpose_b") != 0) {
      return absl::InternalError(absl::StrCat("kernel ", kernel.name,
                                              " computes its matmul's operand ", operand,
                                              ", which is not a windowed operand"));
    }
    slots[i] = k.Slot(w->source);
    offsets[i] = {std::move(w->row_offsets), std::move(w->col_offsets)};
    (i == 0 ? shape.a_offsets : shape.b_offsets) = &offsets[i];
  }
  shape.a_slot = slots[0];
  shape.b_slot = slots[1];
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
      const int width =
          static_cast<int>(llvm::cast<llvm::FixedVectorType>(acc->getType())->getNumElements());
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
  GemmTiling tiling = ChooseGemmTiling(shape, k.isa());
  for (NodeId out : kernel.outputs) {
    if (!ir::OpOf(k.graph().node(out)).Has(ir::kContraction) && IsUpdateValue(k.graph(), out)) {
      tiling.kc = 0;
    }
  }
  llvm::Function* fn = EmitGemmKernel(k.module(), kernel.name, shape, epilogue, k.isa(), tiling);
  // Below ~1 MFLOP a GEMM takes a few microseconds: waking a second thread costs about as much.
  bool parallel = 2.0 * shape.m * shape.n * shape.k >= kMinParallelFlops;
  return EmittedKernel{fn, GemmNumTasks(shape, k.isa(), tiling), parallel};
}

}  // namespace

absl::StatusOr<EmittedKernel> EmitKernel(llvm::Module& module, const ir::Graph& graph,
                                         const ir::Kernel& kernel,
                                         const ir::BufferAssignment& memory, const VectorIsa& isa,
                                         std::vector<int>* slot_table) {
  KernelContext context(module, graph, kernel, memory, isa, slot_table);
  if (kernel.kind != ir::KernelKind::kMatmul) context.CreateFunction();
  absl::StatusOr<EmittedKernel> emitted = absl::InternalError("unknown kernel kind");
  switch (kernel.kind) {
    case ir::KernelKind::kLoop: emitted = EmitLoopKernel(context); break;
    case ir::KernelKind::kReduction: emitted = EmitReductionKernel(context); break;
    case ir::KernelKind::kMatmul: emitted = EmitMatmulKernel(context); break;
  }
  if (emitted.ok()) DeclareSlotsDisjoint(*emitted->function);
  return emitted;
}

}  // namespace kiln::cpu
