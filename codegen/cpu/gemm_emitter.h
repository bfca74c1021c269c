// Emits a GEMM kernel, C = op(A) * op(B), as LLVM IR specialized to one static shape: a
// register-blocked outer-product microkernel (broadcast A, vector B, fused multiply-add into an
// MR x NR block of accumulators) with the elementwise ops that follow the matmul fused into its
// epilogue. Vectors are W = isa.lanes floats wide and the block is sized to the target's vector
// register file (vector_isa.h), so the module must be compiled for that target. The kernel
// follows the KilnTaskFn ABI so the runtime can split it across cores.
//
//   kiln::cpu::GemmShape shape{.m = 64, .n = 256, .k = 784, .a_slot = 0, .b_slot = 1, .c_slot = 2};
//   kiln::cpu::VectorIsa isa = kiln::cpu::VectorIsaOf(target_machine);
//   llvm::Function* fn = kiln::cpu::EmitGemmKernel(module, "fc1", shape, nullptr, isa);
//   // After JIT: fc1(slots, 0, kiln::cpu::GemmNumTasks(shape, isa)) computes all of C.
#ifndef KILN_CODEGEN_CPU_GEMM_EMITTER_H_
#define KILN_CODEGEN_CPU_GEMM_EMITTER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "codegen/cpu/vector_isa.h"
#include "llvm/IR/Function.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Module.h"

namespace kiln::cpu {

// Where an operand's elements lie when they are not a row-major matrix: element (r, c) at
// rows[r] + cols[c] floats from the slot's pointer (a convolution's patches read from its padded
// input, ir/windowed_operand.h). Offsets must fit in 32 bits.
struct MatrixOffsets {
  std::vector<int64_t> rows, cols;
};

// f32 matrices, reached through the kernel's `void** slots` argument: row-major, or at offsets.
struct GemmShape {
  int64_t m = 0, n = 0, k = 0;  // C[m,n] = op(A)[m,k] * op(B)[k,n]; all >= 1.
  bool transpose_a = false;     // A is stored [k,m] when true, else [m,k].
  bool transpose_b = false;     // B is stored [n,k] when true, else [k,n].
  int a_slot = 0, b_slot = 1, c_slot = 2;
  // Non-null: A ([m,k]) or B ([k,n]) is read at these offsets; only for an untransposed operand.
  const MatrixOffsets* a_offsets = nullptr;
  const MatrixOffsets* b_offsets = nullptr;
};

// Called once for each vector of W consecutive output columns of one output row, after the whole
// k reduction; returns the <W x float> to store into C. `row` and `col` are i64 values (`col` is
// the first column of the vector); `lanes` (<= W) is how many columns are valid: lanes past it are
// masked off at the right edge and their values are ignored. The callback may load other tensors
// through `slots` (for example a bias vector at `col`), but must mask such loads itself when
// lanes < W. A null epilogue stores the accumulator unchanged.
using GemmEpilogue = std::function<llvm::Value*(llvm::IRBuilderBase& b, llvm::Value* slots,
                                                llvm::Value* acc, llvm::Value* row,
                                                llvm::Value* col, int lanes)>;

// How the iteration space is blocked. ChooseGemmTiling picks one per shape and vector ISA; tests
// and the benchmark may pass their own.
struct GemmTiling {
  int mr = 6;                // Rows of the register block (broadcasts of A).
  int nr_vectors = 2;        // Vectors of W columns in the register block (loads of B).
  int64_t kc = 0;            // Reduction block (0: the whole k); partial sums go through C
                             // between blocks.
  int64_t rows_per_task = 0; // Multiple of mr (0: all of m). A task is rows_per_task x mr*W.
  bool pack_b = false;       // Copy each B panel into a contiguous stack buffer (forced by
                             // transpose_b, whose columns are strided in memory).
  bool rows_outer = false;   // Consecutive tasks share a row group of A (instead of a column
                             // panel of B): the order when A is the operand that outgrows L2.
  bool pack_a = false;       // Copy a task's rows of a transposed A, all of k, into a contiguous
                             // stack buffer, reused by the consecutive tasks of its row group
                             // (with rows_outer). Requires transpose_a, mr <= W and
                             // PackedABytes(shape, tiling) <= kMaxPackedABytes.
  bool kblocks_outer = false;  // One call runs its whole range of tasks one k block at a time
                               // (k blocks outside, tasks inside) instead of each task through
                               // all of k, so the k block of A (and of B) its tasks share is
                               // read once per call. Same sums in the same order per element.
};

// The packed-A buffer lives on the stack of the thread running the kernel: its size for a
// tiling, and the most a tiling may ask for.
inline constexpr int64_t kMaxPackedABytes = int64_t{1} << 20;
int64_t PackedABytes(const GemmShape& shape, const GemmTiling& tiling);

GemmTiling ChooseGemmTiling(const GemmShape& shape, const VectorIsa& isa);

// Emits `void name(ptr noalias slots, i64 begin, i64 end)` computing tasks [begin, end) of the
// kernel's iteration space; tasks write disjoint parts of C, so any split over threads is valid.
llvm::Function* EmitGemmKernel(llvm::Module& module, const std::string& name,
                               const GemmShape& shape, const GemmEpilogue& epilogue,
                               const VectorIsa& isa);
llvm::Function* EmitGemmKernel(llvm::Module& module, const std::string& name,
                               const GemmShape& shape, const GemmEpilogue& epilogue,
                               const VectorIsa& isa, const GemmTiling& tiling);

// Number of tasks in the kernel's iteration space (for the default or a given tiling).
int64_t GemmNumTasks(const GemmShape& shape, const VectorIsa& isa);
int64_t GemmNumTasks(const GemmShape& shape, const VectorIsa& isa, const GemmTiling& tiling);

}  // namespace kiln::cpu

#endif  // KILN_CODEGEN_CPU_GEMM_EMITTER_H_
