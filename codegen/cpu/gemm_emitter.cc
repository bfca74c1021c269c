#include "codegen/cpu/gemm_emitter.h"

#include <algorithm>
#include <cassert>
#include <vector>

#include "llvm/ADT/StringMap.h"
#include "llvm/IR/BasicBlock.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/DerivedTypes.h"
#include "llvm/IR/GlobalVariable.h"
#include "llvm/IR/Intrinsics.h"

namespace kiln::cpu {
namespace {

// Enough tasks that two (or a few more) threads each get several, so the split balances.
constexpr int64_t kMinTasks = 8;
// Largest register-block row count a task covers. A task packs its B panel once per k block and
// every register block of its rows reuses it, so tall tasks amortize the copy; the microkernel
// streams A's rows past the packed panel, which stays in L2. kiln_gemm_bench on the AVX-512
// EPYC, 1 thread: 384 rows (with kMaxKc 1024) against the earlier 96 (and 256): wide fwd
// 86 -> 101-106 GFLOP/s, big fwd 90 -> 101-106, conv2 fwd/dcol/dW 76-85 -> 80-94, the W3
// shapes within noise.
constexpr int64_t kMaxRowsPerTask = 384;
// Largest reduction block: a packed B panel of kc x nr floats (128 KiB for AVX-512's 32 columns,
// 64 KiB for AVX2's 16), in L2 and small enough for the stack buffer. Fewer k blocks mean fewer
// partial sums through C; 1024 and 4096 measured alike, 256 slower (see kMaxRowsPerTask).
constexpr int64_t kMaxKc = 1024;
// The same with A read transposed in place (a weight gradient, A^T * B): each k step of the
// microkernel reads a new line of A, m floats on, and only k blocks this short keep the lines a
// task's row blocks share, with the packed B panel, in L1. kiln_gemm_bench --sweep on the
// AVX-512 Xeon, 1 thread: conv2 dW 95 -> 117 GFLOP/s, ResNet-18's layer1 weight gradient
// (64x576x4096) 97 -> 119, its stem's (64x49x16384) 44 -> 73; 196 measured alike, 256 lower.
constexpr int64_t kMaxKcTransposedA = 128;

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t RoundUp(int64_t a, int64_t b) { return CeilDiv(a, b) * b; }

// Everything the emitter derives from the shape and tiling, as compile-time numbers.
struct Plan {
  GemmShape shape;
  GemmTiling tiling;
  int w = 0;                 // W: f32 lanes of a vector register (VectorIsa::lanes).
  int64_t nr = 0;            // Columns of a register block: nr_vectors * W.
  int64_t num_panels = 0;    // Column panels of width nr.
  int64_t edge_cols = 0;     // Columns of the last panel (== nr when n % nr == 0).
  int64_t num_groups = 0;    // Row groups of rows_per_task rows.
  int64_t edge_rows = 0;     // m % mr: rows of the last register block of the last group.
  int64_t kc = 0;
  int64_t num_kblocks = 0;
  bool pack_b = false;
  // With B at offsets: whether every vector a register block loads from B covers consecutive
  // addresses (else it is gathered lane by lane).
  bool b_vectors_whole = true;
};

// Vectors of B start at multiples of W: panels are nr_vectors * W columns wide.
bool VectorsWhole(const MatrixOffsets& offsets, int64_t n, int w) {
  for (int64_t c0 = 0; c0 < n; c0 += w) {
    for (int64_t j = 1; j < w && c0 + j < n; ++j) {
      if (offsets.cols[c0 + j] != offsets.cols[c0] + j) return false;
    }
  }
  return true;
}

Plan MakePlan(const GemmShape& shape, const VectorIsa& isa, const GemmTiling& tiling) {
  assert(shape.m > 0 && shape.n > 0 && shape.k > 0);
  assert(tiling.mr > 0 && tiling.nr_vectors > 0);
  assert(isa.lanes > 0 && (isa.lanes & (isa.lanes - 1)) == 0);  // TransposeInPlace halves it.
  Plan p;
  p.shape = shape;
  p.tiling = tiling;
  p.w = isa.lanes;
  p.nr = int64_t{tiling.nr_vectors} * p.w;
  p.num_panels = CeilDiv(shape.n, p.nr);
  p.edge_cols = shape.n - (p.num_panels - 1) * p.nr;
  int64_t rows = tiling.rows_per_task > 0 ? tiling.rows_per_task : RoundUp(shape.m, tiling.mr);
  assert(rows % tiling.mr == 0);
  p.tiling.rows_per_task = rows;
  p.num_groups = CeilDiv(shape.m, rows);
  p.edge_rows = shape.m % tiling.mr;
  p.kc = tiling.kc > 0 ? std::min(tiling.kc, shape.k) : shape.k;
  p.num_kblocks = CeilDiv(shape.k, p.kc);
  p.pack_b = tiling.pack_b || shape.transpose_b;
  // The packing copy moves the mr floats a k step of a register block reads as one vector.
  assert(!tiling.pack_a || (shape.transpose_a && tiling.mr <= isa.lanes &&
                            PackedABytes(shape, p.tiling) <= kMaxPackedABytes));
  // The packed rows of A are all of k: packing them per k block would repeat the copy.
  assert(!(tiling.pack_a && tiling.kblocks_outer));
  // Offsets describe an operand as stored; only untransposed ones are read that way.
  assert(!(shape.a_offsets && shape.transpose_a) && !(shape.b_offsets && shape.transpose_b));
  assert(!shape.a_offsets || (static_cast<int64_t>(shape.a_offsets->rows.size()) == shape.m &&
                              static_cast<int64_t>(shape.a_offsets->cols.size()) == shape.k));
  assert(!shape.b_offsets || (static_cast<int64_t>(shape.b_offsets->rows.size()) == shape.k &&
                              static_cast<int64_t>(shape.b_offsets->cols.size()) == shape.n));
  if (shape.b_offsets) p.b_vectors_whole = VectorsWhole(*shape.b_offsets, shape.n, p.w);
  return p;
}

// Builds the IR of one kernel. The loop nest of a task (one column panel x one row group):
//   for each k block:  [pack the B panel block]  for each register block of rows: microkernel
// and the microkernel keeps its mr x nr_vectors accumulators in registers across the k loop.
class GemmEmitter {
 public:
  GemmEmitter(llvm::Function* fn, const Plan& plan, const GemmEpilogue& epilogue)
      : fn_(fn), plan_(plan), epilogue_(epilogue), w_(plan.w), b_(fn->getContext()) {
    f32_ = b_.getFloatTy();
    i64_ = b_.getInt64Ty();
    vec_ = llvm::FixedVectorType::get(f32_, w_);
  }

  void Emit();

 private:
  using Carried = std::vector<llvm::Value*>;
  using LoopBody = std::function<Carried(llvm::Value* iv, const Carried& carried)>;

  llvm::Value* I64(int64_t v) { return b_.getInt64(v); }
  llvm::Value* Gep(llvm::Value* base, llvm::Value* index) {
    return b_.CreateInBoundsGEP(f32_, base, index);
  }
  // The packed B buffer is 64-byte aligned and every vector in it starts a multiple of W floats
  // in, so each is aligned to its own size (not to 64 bytes when W < 16).
  llvm::Align PackAlign() const { return llvm::Align(w_ * sizeof(float)); }
  llvm::Constant* Mask(int lanes);
  llvm::Constant* LaneIndices();
  Carried EmitLoop(llvm::Value* begin, llvm::Value* end, int64_t step, Carried init,
                   const LoopBody& body);
  // Where task t lies: its column panel and row group, as IR values.
  struct TaskRange {
    llvm::Value* panel;
    llvm::Value* group;
    llvm::Value* col0;
    llvm::Value* row_begin;
    llvm::Value* row_end;
    llvm::Value* is_last_group;
  };
  TaskRange DecodeTask(llvm::Value* task);
  // Calls `body` with the first k of each k block (0 alone when k is one block).
  void ForEachKBlock(const std::function<void(llvm::Value* k0)>& body);
  void EmitTask(const TaskRange& range, llvm::Value* k0);
  void EmitPanel(llvm::Value* col0, int64_t cols, llvm::Value* row_begin, llvm::Value* row_end,
                 llvm::Value* is_last_group, llvm::Value* k0);
  void EmitKBlock(llvm::Value* col0, int64_t cols, llvm::Value* row_begin, llvm::Value* row_end,
                  llvm::Value* is_last_group, llvm::Value* k0);
  void EmitPackB(llvm::Value* col0, int64_t cols, llvm::Value* k0, llvm::Value* kcount);
  void EmitPackA(llvm::Value* row_begin, llvm::Value* row_end);
  void TransposeInPlace(std::vector<llvm::Value*>& rows);
  void EmitMicroKernel(int64_t rows, int64_t cols, llvm::Value* row0, llvm::Value* col0,
                       llvm::Value* k0, llvm::Value* kcount);
  llvm::Value* LoadB(int v, int64_t cols, llvm::Value* col0, llvm::Value* k0, llvm::Value* kk,
                     bool from_pack);
  llvm::Value* LoadA(int64_t r, llvm::Value* row0, llvm::Value* k0, llvm::Value* kk);
  llvm::Value* OffsetTable(const std::string& suffix, const std::vector<int64_t>& offsets);
  llvm::Value* Offset(llvm::Value* table, llvm::Value* index);
  void StoreC(llvm::Value* value, llvm::Value* row, llvm::Value* col, int lanes);
  llvm::Value* LoadC(llvm::Value* row, llvm::Value* col, int lanes);

  llvm::Function* fn_;
  const Plan& plan_;
  const GemmEpilogue& epilogue_;
  const int w_;  // W: f32 lanes of a vector.
  llvm::IRBuilder<> b_;
  llvm::Type* f32_;
  llvm::Type* i64_;
  llvm::FixedVectorType* vec_;
  llvm::Value* slots_ = nullptr;
  llvm::Value* a_ = nullptr;
  llvm::Value* bmat_ = nullptr;
  llvm::Value* c_ = nullptr;
  llvm::Value* pack_ = nullptr;  // [kc][nr] floats on the stack when plan_.pack_b.
  // With pack_a: [register block][k][mr] floats on the stack, the rows of the group that starts
  // at row_begin_.
  llvm::Value* a_pack_ = nullptr;
  llvm::Value* row_begin_ = nullptr;
  // With a_offsets / b_offsets: their row and column offsets, as constant i32 arrays.
  llvm::Value* a_rows_ = nullptr;
  llvm::Value* a_cols_ = nullptr;
  llvm::Value* b_rows_ = nullptr;
  llvm::Value* b_cols_ = nullptr;
};

// <0, 1, ..., W-1> as i32: compared against a splat count, the mask of a run's first lanes.
llvm::Constant* GemmEmitter::LaneIndices() {
  std::vector<llvm::Constant*> lane_ids;
  for (int i = 0; i < w_; ++i) lane_ids.push_back(b_.getInt32(i));
  return llvm::ConstantVector::get(lane_ids);
}

llvm::Constant* GemmEmitter::Mask(int lanes) {
  std::vector<llvm::Constant*> bits;
  for (int i = 0; i < w_; ++i) bits.push_back(b_.getInt1(i < lanes));
  return llvm::ConstantVector::get(bits);
}

// Emits a guarded, rotated counted loop (the form LLVM's loop passes expect) whose body may carry
// values from one iteration to the next; returns the carried values after the loop.
GemmEmitter::Carried GemmEmitter::EmitLoop(llvm::Value* begin, llvm::Value* end, int64_t step,
                                           Carried init, const LoopBody& body) {
  llvm::LLVMContext& ctx = fn_->getContext();
  llvm::BasicBlock* preheader = b_.GetInsertBlock();
  auto* header = llvm::BasicBlock::Create(ctx, "loop", fn_);
  auto* exit = llvm::BasicBlock::Create(ctx, "loop.exit", fn_);
  b_.CreateCondBr(b_.CreateICmpSLT(begin, end), header, exit);

  b_.SetInsertPoint(header);
  llvm::PHINode* iv = b_.CreatePHI(i64_, 2, "iv");
  iv->addIncoming(begin, preheader);
  std::vector<llvm::PHINode*> phis;
  Carried carried;
  for (llvm::Value* v : init) {
    llvm::PHINode* phi = b_.CreatePHI(v->getType(), 2);
    phi->addIncoming(v, preheader);
    phis.push_back(phi);
    carried.push_back(phi);
  }
  Carried next = body(iv, carried);
  assert(next.size() == init.size());
  llvm::Value* iv_next = b_.CreateAdd(iv, I64(step), "iv.next", /*HasNUW=*/true, /*HasNSW=*/true);
  llvm::BasicBlock* latch = b_.GetInsertBlock();
  b_.CreateCondBr(b_.CreateICmpSLT(iv_next, end), header, exit);
  iv->addIncoming(iv_next, latch);
  for (size_t i = 0; i < phis.size(); ++i) phis[i]->addIncoming(next[i], latch);

  b_.SetInsertPoint(exit);
  Carried out;
  for (size_t i = 0; i < init.size(); ++i) {
    llvm::PHINode* phi = b_.CreatePHI(init[i]->getType(), 2);
    phi->addIncoming(init[i], preheader);
    phi->addIncoming(next[i], latch);
    out.push_back(phi);
  }
  return out;
}

void GemmEmitter::Emit() {
  const GemmShape& s = plan_.shape;
  llvm::LLVMContext& ctx = fn_->getContext();
  auto* entry = llvm::BasicBlock::Create(ctx, "entry", fn_);
  b_.SetInsertPoint(entry);
  slots_ = fn_->getArg(0);
  llvm::Value* begin = fn_->getArg(1);
  llvm::Value* end = fn_->getArg(2);
  auto load_slot = [&](int slot, const char* name) {
    llvm::Value* addr = b_.CreateConstInBoundsGEP1_64(b_.getPtrTy(), slots_, slot);
    return b_.CreateLoad(b_.getPtrTy(), addr, name);
  };
  a_ = load_slot(s.a_slot, "a");
  bmat_ = load_slot(s.b_slot, "b");
  c_ = load_slot(s.c_slot, "c");
  if (s.a_offsets) {
    a_rows_ = OffsetTable("a.rows", s.a_offsets->rows);
    a_cols_ = OffsetTable("a.cols", s.a_offsets->cols);
  }
  if (s.b_offsets) {
    b_rows_ = OffsetTable("b.rows", s.b_offsets->rows);
    b_cols_ = OffsetTable("b.cols", s.b_offsets->cols);
  }
  if (plan_.pack_b) {
    // Rows up to a multiple of W: the transposing copy writes whole W x W blocks.
    auto* alloca = b_.CreateAlloca(f32_, I64(RoundUp(plan_.kc, w_) * plan_.nr), "b.pack");
    alloca->setAlignment(llvm::Align(64));
    pack_ = alloca;
  }
  if (plan_.tiling.pack_a) {
    auto* alloca = b_.CreateAlloca(
        f32_, I64(PackedABytes(s, plan_.tiling) / static_cast<int64_t>(sizeof(float))), "a.pack");
    alloca->setAlignment(llvm::Align(64));
    a_pack_ = alloca;
  }

  // Task t covers column panel t / num_groups and row group t % num_groups, so consecutive tasks
  // (which one thread runs in order) share their B panel; with rows_outer the converse, so they
  // share their rows of A. With kblocks_outer a call walks its tasks once per k block, so the
  // k block of the operand they share is read from memory once per call, not once per task.
  // With pack_a the loop carries the row group whose rows are packed, so a thread packs each
  // group once for its run of consecutive tasks.
  if (plan_.tiling.kblocks_outer) {
    ForEachKBlock([&](llvm::Value* k0) {
      EmitLoop(begin, end, 1, {}, [&](llvm::Value* task, const Carried&) -> Carried {
        EmitTask(DecodeTask(task), k0);
        return {};
      });
    });
    b_.CreateRetVoid();
    return;
  }
  const bool pack_a = plan_.tiling.pack_a;
  Carried no_group_packed;
  if (pack_a) no_group_packed.push_back(I64(-1));
  EmitLoop(begin, end, 1, no_group_packed, [&](llvm::Value* task, const Carried& packed) -> Carried {
    const TaskRange range = DecodeTask(task);
    if (!pack_a) {
      EmitTask(range, /*k0=*/nullptr);
      return {};
    }
    auto* repack = llvm::BasicBlock::Create(ctx, "a.repack", fn_);
    auto* packed_done = llvm::BasicBlock::Create(ctx, "a.packed", fn_);
    b_.CreateCondBr(b_.CreateICmpNE(range.group, packed[0]), repack, packed_done);
    b_.SetInsertPoint(repack);
    EmitPackA(range.row_begin, range.row_end);
    b_.CreateBr(packed_done);
    b_.SetInsertPoint(packed_done);
    row_begin_ = range.row_begin;
    EmitTask(range, /*k0=*/nullptr);
    return {range.group};
  });
  b_.CreateRetVoid();
}

GemmEmitter::TaskRange GemmEmitter::DecodeTask(llvm::Value* task) {
  const bool rows_outer = plan_.tiling.rows_outer;
  TaskRange r;
  r.panel = rows_outer ? b_.CreateURem(task, I64(plan_.num_panels), "panel")
                       : b_.CreateUDiv(task, I64(plan_.num_groups), "panel");
  r.group = rows_outer ? b_.CreateUDiv(task, I64(plan_.num_panels), "group")
                       : b_.CreateURem(task, I64(plan_.num_groups), "group");
  r.col0 = b_.CreateMul(r.panel, I64(plan_.nr), "col0");
  r.row_begin = b_.CreateMul(r.group, I64(plan_.tiling.rows_per_task), "row.begin");
  r.is_last_group = b_.CreateICmpEQ(r.group, I64(plan_.num_groups - 1));
  r.row_end = b_.CreateSelect(r.is_last_group, I64(plan_.shape.m),
                              b_.CreateAdd(r.row_begin, I64(plan_.tiling.rows_per_task)),
                              "row.end");
  return r;
}

// One task: its panel (the last one may be narrower) and row group, over all of k or, when k0 is
// given, over the k block that starts there.
void GemmEmitter::EmitTask(const TaskRange& r, llvm::Value* k0) {
  if (plan_.edge_cols == plan_.nr) {
    EmitPanel(r.col0, plan_.nr, r.row_begin, r.row_end, r.is_last_group, k0);
    return;
  }
  llvm::LLVMContext& ctx = fn_->getContext();
  auto* full = llvm::BasicBlock::Create(ctx, "panel.full", fn_);
  auto* edge = llvm::BasicBlock::Create(ctx, "panel.edge", fn_);
  auto* done = llvm::BasicBlock::Create(ctx, "panel.done", fn_);
  b_.CreateCondBr(b_.CreateICmpEQ(r.panel, I64(plan_.num_panels - 1)), edge, full);
  b_.SetInsertPoint(full);
  EmitPanel(r.col0, plan_.nr, r.row_begin, r.row_end, r.is_last_group, k0);
  b_.CreateBr(done);
  b_.SetInsertPoint(edge);
  EmitPanel(r.col0, plan_.edge_cols, r.row_begin, r.row_end, r.is_last_group, k0);
  b_.CreateBr(done);
  b_.SetInsertPoint(done);
}

// `cols` columns from col0, rows [row_begin, row_end): every k block, or only the one at k0.
void GemmEmitter::EmitPanel(llvm::Value* col0, int64_t cols, llvm::Value* row_begin,
                            llvm::Value* row_end, llvm::Value* is_last_group, llvm::Value* k0) {
  if (k0 != nullptr) {
    EmitKBlock(col0, cols, row_begin, row_end, is_last_group, k0);
    return;
  }
  ForEachKBlock([&](llvm::Value* block) {
    EmitKBlock(col0, cols, row_begin, row_end, is_last_group, block);
  });
}

void GemmEmitter::ForEachKBlock(const std::function<void(llvm::Value* k0)>& body) {
  if (plan_.num_kblocks == 1) {
    body(I64(0));
    return;
  }
  EmitLoop(I64(0), I64(plan_.shape.k), plan_.kc, {},
           [&](llvm::Value* k0, const Carried&) -> Carried {
             body(k0);
             return {};
           });
}

// The k block at k0: [pack the B panel block] then every register block of the rows.
void GemmEmitter::EmitKBlock(llvm::Value* col0, int64_t cols, llvm::Value* row_begin,
                             llvm::Value* row_end, llvm::Value* is_last_group, llvm::Value* k0) {
  const int64_t mr = plan_.tiling.mr;
  const int64_t k = plan_.shape.k;
  llvm::Value* kcount = plan_.num_kblocks == 1
                            ? I64(k)
                            : b_.CreateSelect(b_.CreateICmpSLT(k0, I64(k - plan_.kc)),
                                              I64(plan_.kc), b_.CreateSub(I64(k), k0), "kcount");
  if (plan_.pack_b) EmitPackB(col0, cols, k0, kcount);
  // Full register blocks; the last group may end with a block of edge_rows rows.
  llvm::Value* full_rows = b_.CreateSub(row_end, row_begin);
  if (plan_.edge_rows != 0) {
    full_rows = b_.CreateSelect(is_last_group, I64(plan_.shape.m / mr * mr), row_end);
    full_rows = b_.CreateSub(full_rows, row_begin);
  }
  llvm::Value* full_end = b_.CreateAdd(row_begin, full_rows, "rows.full.end");
  EmitLoop(row_begin, full_end, mr, {}, [&](llvm::Value* row0, const Carried&) -> Carried {
    EmitMicroKernel(mr, cols, row0, col0, k0, kcount);
    return {};
  });
  if (plan_.edge_rows == 0) return;
  llvm::LLVMContext& ctx = fn_->getContext();
  auto* edge = llvm::BasicBlock::Create(ctx, "rows.edge", fn_);
  auto* done = llvm::BasicBlock::Create(ctx, "rows.done", fn_);
  b_.CreateCondBr(is_last_group, edge, done);
  b_.SetInsertPoint(edge);
  EmitMicroKernel(plan_.edge_rows, cols, full_end, col0, k0, kcount);
  b_.CreateBr(done);
  b_.SetInsertPoint(done);
}

// Copies op(B)[k0 : k0+kcount, col0 : col0+cols] into pack_ as rows of nr floats, so the
// microkernel reads B as contiguous vectors whatever B's layout.
void GemmEmitter::EmitPackB(llvm::Value* col0, int64_t cols, llvm::Value* k0,
                            llvm::Value* kcount) {
  const GemmShape& s = plan_.shape;
  if (!s.transpose_b) {
    // Row kk of the panel is contiguous in B: copy whole vectors.
    EmitLoop(I64(0), kcount, 1, {}, [&](llvm::Value* kk, const Carried&) -> Carried {
      for (int v = 0; v * w_ < cols; ++v) {
        llvm::Value* value = LoadB(v, cols, col0, k0, kk, /*from_pack=*/false);
        llvm::Value* dst = Gep(pack_, b_.CreateAdd(b_.CreateMul(kk, I64(plan_.nr)), I64(v * w_)));
        b_.CreateAlignedStore(value, dst, PackAlign());
      }
      return {};
    });
    return;
  }
  // B is [n, k]: W columns of op(B) are W rows of B, contiguous along k. Load W x W blocks
  // (masked past kcount; the buffer has rows to spare up to a multiple of W) and transpose them
  // in registers.
  llvm::Constant* iota = LaneIndices();
  llvm::Value* zero = llvm::Constant::getNullValue(vec_);
  EmitLoop(I64(0), kcount, w_, {}, [&](llvm::Value* kk, const Carried&) -> Carried {
    llvm::Value* left = b_.CreateTrunc(b_.CreateSub(kcount, kk), b_.getInt32Ty());
    llvm::Value* mask = b_.CreateICmpSLT(iota, b_.CreateVectorSplat(w_, left));
    for (int v = 0; v * w_ < cols; ++v) {
      std::vector<llvm::Value*> block(w_, zero);
      for (int j = 0; j < w_ && v * w_ + j < cols; ++j) {
        llvm::Value* brow = b_.CreateAdd(col0, I64(v * w_ + j));
        llvm::Value* src = Gep(bmat_, b_.CreateAdd(b_.CreateMul(brow, I64(s.k)),
                                                   b_.CreateAdd(k0, kk)));
        block[j] = b_.CreateMaskedLoad(vec_, src, llvm::Align(4), mask, zero);
      }
      TransposeInPlace(block);
      for (int i = 0; i < w_; ++i) {
        llvm::Value* prow = b_.CreateAdd(kk, I64(i));
        llvm::Value* dst = Gep(pack_, b_.CreateAdd(b_.CreateMul(prow, I64(plan_.nr)), I64(v * w_)));
        b_.CreateAlignedStore(block[i], dst, PackAlign());
      }
    }
    return {};
  });
}

// Copies op(A)[row_begin : row_end, all of k] into a_pack_, each register block's rows as k
// consecutive runs of mr floats, so the microkernel's broadcasts of A walk one contiguous stream
// instead of a new line, m floats on, at every k step. A is stored
// [k, m], so each run is one masked vector load of mr contiguous floats; rows past row_end (the
// last group's edge block) are packed as zeros the microkernel never reads.
void GemmEmitter::EmitPackA(llvm::Value* row_begin, llvm::Value* row_end) {
  const GemmShape& s = plan_.shape;
  const int64_t mr = plan_.tiling.mr;
  llvm::Constant* iota = LaneIndices();
  llvm::Value* zero = llvm::Constant::getNullValue(vec_);
  llvm::Value* rows = b_.CreateSub(row_end, row_begin);
  EmitLoop(I64(0), I64(s.k), 1, {}, [&](llvm::Value* kk, const Carried&) -> Carried {
    llvm::Value* a_row = Gep(a_, b_.CreateAdd(b_.CreateMul(kk, I64(s.m)), row_begin));
    llvm::Value* pack_row = Gep(a_pack_, b_.CreateMul(kk, I64(mr)));
    EmitLoop(I64(0), rows, mr, {}, [&](llvm::Value* local, const Carried&) -> Carried {
      llvm::Value* left = b_.CreateTrunc(b_.CreateSub(rows, local), b_.getInt32Ty());
      llvm::Value* mask = b_.CreateAnd(b_.CreateICmpSLT(iota, b_.CreateVectorSplat(w_, left)),
                                       Mask(static_cast<int>(mr)));
      llvm::Value* value = b_.CreateMaskedLoad(vec_, Gep(a_row, local), llvm::Align(4), mask, zero);
      llvm::Value* dst = Gep(pack_row, b_.CreateMul(local, I64(s.k)));
      b_.CreateMaskedStore(value, dst, llvm::Align(4), Mask(static_cast<int>(mr)));
      return {};
    });
    return {};
  });
}

// Transposes a W x W block held as W row vectors, one bit of the (row, column) index at a time:
// step `bit` swaps that bit between row and column index with one two-source shuffle per row,
// so the whole transpose is log2(W) * W shuffles (vpermt2ps / vunpck / vshuff on AVX-512).
void GemmEmitter::TransposeInPlace(std::vector<llvm::Value*>& rows) {
  for (int bit = 1; bit < w_; bit <<= 1) {
    std::vector<int> low_mask(w_), high_mask(w_);
    for (int j = 0; j < w_; ++j) {
      // Row i0 (bit clear) keeps its bit-clear columns and takes row i1's; row i1 the converse.
      low_mask[j] = (j & bit) ? w_ + (j ^ bit) : j;
      high_mask[j] = (j & bit) ? w_ + j : (j | bit);
    }
    for (int i0 = 0; i0 < w_; ++i0) {
      if (i0 & bit) continue;
      const int i1 = i0 | bit;
      llvm::Value* low = b_.CreateShuffleVector(rows[i0], rows[i1], low_mask);
      llvm::Value* high = b_.CreateShuffleVector(rows[i0], rows[i1], high_mask);
      rows[i0] = low;
      rows[i1] = high;
    }
  }
}

// Vector v of row kk of the current B panel block (masked at the right edge), from the packed
// copy or, for a non-transposed B, from B itself.
llvm::Value* GemmEmitter::LoadB(int v, int64_t cols, llvm::Value* col0, llvm::Value* k0,
                                llvm::Value* kk, bool from_pack) {
  const int lanes = static_cast<int>(std::min<int64_t>(w_, cols - v * w_));
  llvm::Value* addr;
  if (from_pack) {
    addr = Gep(pack_, b_.CreateAdd(b_.CreateMul(kk, I64(plan_.nr)), I64(v * w_)));
  } else if (b_rows_ != nullptr) {
    llvm::Value* row = Offset(b_rows_, b_.CreateAdd(k0, kk));
    llvm::Value* col = b_.CreateAdd(col0, I64(v * w_));
    if (!plan_.b_vectors_whole) {
      // Columns apart in memory: one scalar load per lane.
      llvm::Value* vector = llvm::Constant::getNullValue(vec_);
      for (int j = 0; j < lanes; ++j) {
        llvm::Value* at = b_.CreateAdd(row, Offset(b_cols_, b_.CreateAdd(col, I64(j))));
        vector = b_.CreateInsertElement(
            vector, b_.CreateAlignedLoad(f32_, Gep(bmat_, at), llvm::Align(4)), j);
      }
      return vector;
    }
    addr = Gep(bmat_, b_.CreateAdd(row, Offset(b_cols_, col)));
  } else {
    llvm::Value* row = b_.CreateAdd(k0, kk);
    llvm::Value* col = b_.CreateAdd(col0, I64(v * w_));
    addr = Gep(bmat_, b_.CreateAdd(b_.CreateMul(row, I64(plan_.shape.n)), col));
  }
  const llvm::Align align = from_pack ? PackAlign() : llvm::Align(4);
  if (lanes == w_) return b_.CreateAlignedLoad(vec_, addr, align);
  return b_.CreateMaskedLoad(vec_, addr, align, Mask(lanes), llvm::Constant::getNullValue(vec_));
}

// op(A)[row0 + r, k0 + kk] broadcast to a vector.
llvm::Value* GemmEmitter::LoadA(int64_t r, llvm::Value* row0, llvm::Value* k0, llvm::Value* kk) {
  const GemmShape& s = plan_.shape;
  llvm::Value* kidx = b_.CreateAdd(k0, kk);
  if (a_pack_) {
    // Register block (row0 - row_begin_) / mr of the group starts (row0 - row_begin_) * k in.
    llvm::Value* block = b_.CreateMul(b_.CreateSub(row0, row_begin_), I64(s.k));
    llvm::Value* index = b_.CreateAdd(block, b_.CreateAdd(b_.CreateMul(kidx, I64(plan_.tiling.mr)),
                                                          I64(r)));
    return b_.CreateVectorSplat(w_, b_.CreateAlignedLoad(f32_, Gep(a_pack_, index),
                                                         llvm::Align(4)));
  }
  llvm::Value* row = b_.CreateAdd(row0, I64(r));
  if (a_rows_ != nullptr) {
    // The row's offset is the same at every k step: LLVM hoists its load out of the k loop.
    llvm::Value* index = b_.CreateAdd(Offset(a_rows_, row), Offset(a_cols_, kidx));
    return b_.CreateVectorSplat(w_, b_.CreateAlignedLoad(f32_, Gep(a_, index), llvm::Align(4)));
  }
  llvm::Value* index = s.transpose_a ? b_.CreateAdd(b_.CreateMul(kidx, I64(s.m)), row)
                                     : b_.CreateAdd(b_.CreateMul(row, I64(s.k)), kidx);
  llvm::Value* scalar = b_.CreateAlignedLoad(f32_, Gep(a_, index), llvm::Align(4));
  return b_.CreateVectorSplat(w_, scalar);
}

// A private constant array of the offsets, 32-bit, named after the kernel.
llvm::Value* GemmEmitter::OffsetTable(const std::string& suffix,
                                      const std::vector<int64_t>& offsets) {
  std::vector<int32_t> narrow(offsets.begin(), offsets.end());
  llvm::Constant* data = llvm::ConstantDataArray::get(fn_->getContext(), llvm::ArrayRef(narrow));
  auto* table = new llvm::GlobalVariable(*fn_->getParent(), data->getType(), /*isConstant=*/true,
                                         llvm::GlobalValue::PrivateLinkage, data,
                                         fn_->getName() + "." + suffix);
  table->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
  table->setAlignment(llvm::Align(64));
  return table;
}

llvm::Value* GemmEmitter::Offset(llvm::Value* table, llvm::Value* index) {
  llvm::Value* at = b_.CreateInBoundsGEP(b_.getInt32Ty(), table, index);
  return b_.CreateSExt(b_.CreateAlignedLoad(b_.getInt32Ty(), at, llvm::Align(4)), i64_);
}

llvm::Value* GemmEmitter::LoadC(llvm::Value* row, llvm::Value* col, int lanes) {
  llvm::Value* addr = Gep(c_, b_.CreateAdd(b_.CreateMul(row, I64(plan_.shape.n)), col));
  if (lanes == w_) return b_.CreateAlignedLoad(vec_, addr, llvm::Align(4));
  return b_.CreateMaskedLoad(vec_, addr, llvm::Align(4), Mask(lanes),
                             llvm::Constant::getNullValue(vec_));
}

void GemmEmitter::StoreC(llvm::Value* value, llvm::Value* row, llvm::Value* col, int lanes) {
  llvm::Value* addr = Gep(c_, b_.CreateAdd(b_.CreateMul(row, I64(plan_.shape.n)), col));
  if (lanes == w_) {
    b_.CreateAlignedStore(value, addr, llvm::Align(4));
    return;
  }
  b_.CreateMaskedStore(value, addr, llvm::Align(4), Mask(lanes));
}

// C[row0 : row0+rows, col0 : col0+cols] (+)= op(A) block * op(B) block over k0 : k0+kcount.
void GemmEmitter::EmitMicroKernel(int64_t rows, int64_t cols, llvm::Value* row0,
                                  llvm::Value* col0, llvm::Value* k0, llvm::Value* kcount) {
  const int nv = static_cast<int>(CeilDiv(cols, w_));
  auto lanes_of = [&](int v) { return static_cast<int>(std::min<int64_t>(w_, cols - v * w_)); };
  auto row_of = [&](int64_t r) { return b_.CreateAdd(row0, I64(r)); };
  auto col_of = [&](int v) { return b_.CreateAdd(col0, I64(v * w_)); };

  // Later k blocks continue from the partial sums the earlier ones left in C.
  Carried init;
  llvm::Value* zero = llvm::Constant::getNullValue(vec_);
  llvm::Value* is_first = plan_.num_kblocks > 1 ? b_.CreateICmpEQ(k0, I64(0)) : nullptr;
  for (int64_t r = 0; r < rows; ++r) {
    for (int v = 0; v < nv; ++v) {
      if (!is_first) {
        init.push_back(zero);
        continue;
      }
      init.push_back(b_.CreateSelect(is_first, zero, LoadC(row_of(r), col_of(v), lanes_of(v))));
    }
  }

  llvm::Function* fma =
      llvm::Intrinsic::getDeclaration(fn_->getParent(), llvm::Intrinsic::fmuladd, {vec_});
  Carried acc = EmitLoop(I64(0), kcount, 1, init,
                         [&](llvm::Value* kk, const Carried& acc_in) -> Carried {
    std::vector<llvm::Value*> bvec;
    for (int v = 0; v < nv; ++v) bvec.push_back(LoadB(v, cols, col0, k0, kk, plan_.pack_b));
    Carried acc_out(acc_in.size());
    for (int64_t r = 0; r < rows; ++r) {
      llvm::Value* a = LoadA(r, row0, k0, kk);
      for (int v = 0; v < nv; ++v) {
        acc_out[r * nv + v] = b_.CreateCall(fma, {a, bvec[v], acc_in[r * nv + v]});
      }
    }
    return acc_out;
  });

  auto store_all = [&](bool with_epilogue) {
    for (int64_t r = 0; r < rows; ++r) {
      for (int v = 0; v < nv; ++v) {
        llvm::Value* value = acc[r * nv + v];
        llvm::Value* row = row_of(r);
        llvm::Value* col = col_of(v);
        if (with_epilogue && epilogue_) value = epilogue_(b_, slots_, value, row, col, lanes_of(v));
        StoreC(value, row, col, lanes_of(v));
      }
    }
  };
  if (plan_.num_kblocks == 1 || !epilogue_) {
    store_all(/*with_epilogue=*/true);
    return;
  }
  // Only the last k block applies the epilogue.
  llvm::LLVMContext& ctx = fn_->getContext();
  auto* last = llvm::BasicBlock::Create(ctx, "kblock.last", fn_);
  auto* partial = llvm::BasicBlock::Create(ctx, "kblock.partial", fn_);
  auto* done = llvm::BasicBlock::Create(ctx, "kblock.done", fn_);
  b_.CreateCondBr(b_.CreateICmpEQ(b_.CreateAdd(k0, kcount), I64(plan_.shape.k)), last, partial);
  b_.SetInsertPoint(last);
  store_all(/*with_epilogue=*/true);
  b_.CreateBr(done);
  b_.SetInsertPoint(partial);
  store_all(/*with_epilogue=*/false);
  b_.CreateBr(done);
  b_.SetInsertPoint(done);
}

// Registers a register block keeps busy through the k loop: its accumulators, the vectors of B,
// the broadcast of A and, without FMA, the product before it is added.
int RegistersUsed(const VectorIsa& isa, int mr, int nr_vectors) {
  return mr * nr_vectors + nr_vectors + 1 + (isa.fma ? 0 : 1);
}

// The register block, measured with bench/gemm_bench.cc --sweep on the MLP shapes (bench/README.md)
// for each register file; a block that does not fit spills its accumulators in the k loop.
//   32 registers (AVX-512): 8 x 2 vectors (16 accumulators; 8 divides every batch-64 shape's m,
//     so no row edges) is within noise of the best block everywhere on the EPYC; narrow outputs
//     16 x 1. Outputs at least kWidePanelColumns wide take 6 x 4 (24 accumulators, each
//     broadcast of A feeding four vectors): on the AVX-512 Xeon, 2 threads, the wide MLP's
//     4096-wide GEMMs fwd 258 -> 310 GFLOP/s, dW 162 -> 196, big fwd 304 -> 348, and its step
//     285 -> 241 ms; narrower shapes lost with it (fwd 256->128 260 -> 229, conv2 dW 173 -> 148).
//     Outputs of 3 or 4 vectors take 6 x 4 too, one panel where 8 x 2 needs two: ResNet-18's
//     stem weight gradient (64x49x16384, A transposed) 48-49 -> 73-75 GFLOP/s on one core of
//     the Xeon (kiln_gemm_bench --sweep); 64-wide forward GEMMs within noise (174-181 -> 174-188).
//   16 registers (AVX2, SSE): 6 x 2 (12 accumulators, 15 registers with FMA, all 16 without) is
//     the best or within noise of it (4 x 3, 5 x 2, 3 x 3) with AVX2 on the W3 shapes swept
//     (fwd 784->256, fwd 256->128, dW1); narrow outputs 12 x 1 by the same budget (unmeasured:
//     no W3 shape has n <= 8).
constexpr int64_t kWidePanelColumns = 1024;

void ChooseRegisterBlock(const GemmShape& shape, const VectorIsa& isa, GemmTiling& t) {
  const bool narrow = shape.n <= isa.lanes;
  const bool one_wide_panel = shape.n > 2 * isa.lanes && shape.n <= 4 * isa.lanes;
  const bool wide = isa.registers >= 32 && (shape.n >= kWidePanelColumns || one_wide_panel);
  t.nr_vectors = narrow ? 1 : wide ? 4 : 2;
  if (isa.registers >= 32) {
    t.mr = narrow ? 16 : wide ? 6 : 8;
  } else {
    t.mr = narrow ? 12 : 6;
  }
  assert(RegistersUsed(isa, t.mr, t.nr_vectors) <= isa.registers);
}

// A transposed A ([k, m] in memory) read in place costs a new line at every k step of the
// microkernel, m floats on: with rows kMinPackedAStrideBytes or more apart, a few steps a page,
// too far apart for the hardware prefetchers to follow. Packing a row group's rows once, k-major,
// turns that into one contiguous stream. Each thread packs a group once for the consecutive tasks
// that share it (rows_outer), so the copy is paid once per group and thread, not once per column
// panel as it was when an earlier version (removed) packed every task's rows: that cost more than
// it saved. kiln_gemm_bench, 2 threads,
// on the AVX-512 Xeon, packed (with k blocks of kMaxKc, as the stream no longer needs short ones)
// against in place: wide dW (4096x4096x512) 213-217 -> 327-370 GFLOP/s, the wide MLP's first
// layer's (784x4096x512) 270-300 -> 325, and the wide MLP's step 201-217 -> 171-184 ms. With rows
// closer together the prefetchers keep up: ResNet-18's layer1 weight gradient (64x576x4096, rows
// 256 bytes apart) measured 227-259 -> 276 alone, but its step got no faster (kernels 49.6-50.6
// against 50.4-51.9 ms), so those stay in place.
//
// The packed rows live on the stack, so a group is shortened to fit kMaxPackedABytes; where that
// would leave fewer than kMinPackedRowBlocks register blocks (k in the tens of thousands: conv2
// dW, 64x288x12544, fell 195-207 -> 118 with 16-row groups) A stays in place.
constexpr int64_t kMinPackedAStrideBytes = 2048;
constexpr int64_t kMinPackedRowBlocks = 4;

void ChoosePackedA(const GemmShape& shape, const VectorIsa& isa, GemmTiling& t) {
  const int64_t stride_bytes = shape.m * static_cast<int64_t>(sizeof(float));
  if (!shape.transpose_a || stride_bytes < kMinPackedAStrideBytes || t.mr > isa.lanes) return;
  const int64_t fit = kMaxPackedABytes / (static_cast<int64_t>(sizeof(float)) * shape.k) / t.mr *
                      t.mr;
  const int64_t rows = std::min(t.rows_per_task, fit);
  if (rows < std::min<int64_t>(t.rows_per_task, kMinPackedRowBlocks * t.mr)) return;
  t.rows_per_task = rows;
  t.pack_a = true;
}

// A weight gradient that keeps A in place (a long k, a small output: a convolution's, k = batch
// x output pixels) reads A's k block afresh for every column panel, each task streaming all of
// k for its own panel. Walking a call's tasks once per k block instead (GemmTiling::
// kblocks_outer) reads each k block of A once per call, while it is in L1, at the price of
// passing the call's part of C through the cache once per k block: cheap while the whole output
// fits in L2 with room to spare. kiln_gemm_bench on the AVX-512 Xeon, 1 / 2 threads:
// fashion_cnn's conv2 weight gradient (64x288x12544) 98-106 -> 143-146 / 179-191 -> 224-243
// GFLOP/s, ResNet-18's layer1 (64x576x4096) 114-125 -> 141 / 229-251 -> 268, its stem
// (64x49x16384; one panel, so here B's k block is the one shared) 63 -> 115 / 120-124 -> 173-194.
constexpr int64_t kMaxKBlocksOuterOutputBytes = int64_t{1} << 20;

}  // namespace

// Every register block of a row group, all of k.
int64_t PackedABytes(const GemmShape& shape, const GemmTiling& tiling) {
  const int64_t rows = tiling.rows_per_task > 0 ? tiling.rows_per_task : shape.m;
  return RoundUp(rows, tiling.mr) * shape.k * static_cast<int64_t>(sizeof(float));
}

GemmTiling ChooseGemmTiling(const GemmShape& shape, const VectorIsa& isa) {
  GemmTiling t;
  ChooseRegisterBlock(shape, isa, t);
  // As many rows per task as fit, but enough row groups that all panels together give kMinTasks.
  const int64_t nr = int64_t{t.nr_vectors} * isa.lanes;
  const int64_t panels = CeilDiv(shape.n, nr);
  const int64_t groups = std::max<int64_t>(CeilDiv(kMinTasks, panels),
                                           CeilDiv(shape.m, kMaxRowsPerTask));
  t.rows_per_task = RoundUp(CeilDiv(shape.m, groups), t.mr);
  ChoosePackedA(shape, isa, t);
  // Balanced k blocks of at most kMaxKc (kMaxKcTransposedA while A is read transposed in place).
  const int64_t max_kc = shape.transpose_a && !t.pack_a ? kMaxKcTransposedA : kMaxKc;
  if (shape.k > max_kc) t.kc = CeilDiv(shape.k, CeilDiv(shape.k, max_kc));
  // Packing B makes the panel contiguous (B's rows are n floats apart, which for n a multiple of
  // 1024 maps every row to the same cache set); it pays off once several register blocks reuse it.
  t.pack_b = shape.n >= nr && t.rows_per_task >= 2 * t.mr;
  // Whichever operand is larger is the one to read once: a row group of A (rows_per_task x k)
  // stays in L2 while every panel of a small B passes over it, e.g. a convolution's patch
  // matrix [B*H*W, C*kh*kw] times its small weight matrix.
  t.rows_outer = shape.m > shape.n || t.pack_a;
  t.kblocks_outer = shape.transpose_a && !t.pack_a && t.kc > 0 &&  // kc > 0: k is blocked.
                    shape.m * shape.n * static_cast<int64_t>(sizeof(float)) <=
                        kMaxKBlocksOuterOutputBytes;
  return t;
}

int64_t GemmNumTasks(const GemmShape& shape, const VectorIsa& isa, const GemmTiling& tiling) {
  Plan plan = MakePlan(shape, isa, tiling);
  return plan.num_panels * plan.num_groups;
}

int64_t GemmNumTasks(const GemmShape& shape, const VectorIsa& isa) {
  return GemmNumTasks(shape, isa, ChooseGemmTiling(shape, isa));
}

llvm::Function* EmitGemmKernel(llvm::Module& module, const std::string& name,
                               const GemmShape& shape, const GemmEpilogue& epilogue,
                               const VectorIsa& isa) {
  return EmitGemmKernel(module, name, shape, epilogue, isa, ChooseGemmTiling(shape, isa));
}

llvm::Function* EmitGemmKernel(llvm::Module& module, const std::string& name,
                               const GemmShape& shape, const GemmEpilogue& epilogue,
                               const VectorIsa& isa, const GemmTiling& tiling) {
  llvm::LLVMContext& ctx = module.getContext();
  auto* ptr = llvm::PointerType::getUnqual(ctx);
  auto* i64 = llvm::Type::getInt64Ty(ctx);
  auto* type = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptr, i64, i64}, false);
  auto* fn = llvm::Function::Create(type, llvm::Function::ExternalLinkage, name, module);
  fn->getArg(0)->setName("slots");
  fn->getArg(1)->setName("begin");
  fn->getArg(2)->setName("end");
  fn->addParamAttr(0, llvm::Attribute::NoAlias);
  fn->addFnAttr(llvm::Attribute::NoUnwind);
  // The target CPU and features come from OptimizeModule (llvm_target.h). Some CPUs prefer
  // narrower vectors than they have (TOOLCHAIN gotcha 6: skylake-avx512 prefers 256 bits), which
  // would split every <W x float> in two: pin the width to the register the block was sized for.
  const std::string bits = std::to_string(isa.bits());
  fn->addFnAttr("prefer-vector-width", bits);
  fn->addFnAttr("min-legal-vector-width", bits);

  const Plan plan = MakePlan(shape, isa, tiling);
  GemmEmitter(fn, plan, epilogue).Emit();
  return fn;
}

}  // namespace kiln::cpu
