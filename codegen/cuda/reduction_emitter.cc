// Reduction kernels: a root reduction whose fused elementwise producers are evaluated at each
// input element it folds. Rows (reduced dims innermost) go to a warp or a block each; column
// reductions (reduced dims outside a kept one, e.g. bias gradients) put threads on the kept dims.
#include <limits>

#include "absl/strings/str_cat.h"
#include "codegen/cuda/emitter_context.h"
#include "codegen/reduction_geometry.h"
#include "ir/op_registry.h"
#include "support/status.h"

namespace kiln::cuda {
namespace {

using ir::NodeId;
using kernel::ScalarType;
using kernel::Value;

std::string Combine(ir::ReduceKind kind, const std::string& a, const std::string& b);

// Rows up to this long get one warp each; longer ones a whole block.
constexpr int64_t kWarpRowLimit = 1024;
// Few long reductions (a loss summed over a whole large batch, bias gradients over one) leave
// most SMs idle with one block per row or per 32 columns. Such a reduction runs on sm_90
// thread-block clusters instead: block `rank` of kClusterBlocks takes every kClusterBlocks-th
// slice of the reduced range, and block 0 folds the blocks' totals from their shared memory
// (distributed shared memory) in rank order, so the result does not depend on timing.
constexpr int kClusterBlocks = 8;
constexpr int64_t kClusterMinReduced = 4096;
// Rows at most this many share clusters (more rows already fill the GPU).
constexpr int64_t kClusterMaxRows = 64;

// `signature` with the cluster shape after its __launch_bounds__(...), where tools look for it.
std::string WithClusterDims(std::string signature) {
  const size_t name_at = signature.find(") ", signature.find("__launch_bounds__(")) + 2;
  signature.insert(name_at, absl::StrCat("__cluster_dims__(1, ", kClusterBlocks, ", 1) "));
  return signature;
}

// Block 0 of the cluster folds every block's `block_total[index]` in rank order into `out`. The
// first barrier publishes the totals; the second keeps every block (and its shared memory) alive
// until block 0 has read them, and lets the next iteration reuse the shared arrays.
std::string ClusterFold(ir::ReduceKind kind, const std::string& guard, const std::string& index,
                        const std::string& out) {
  return absl::StrCat(
      "    __cluster_barrier_arrive();\n    __cluster_barrier_wait();\n",
      "    if (blockIdx.y == 0 && ", guard, ") {\n",
      "      float total = block_total[", index, "];\n",
      "      for (unsigned rank = 1; rank < ", kClusterBlocks, "; ++rank) {\n",
      "        const float other = static_cast<const float*>(__cluster_map_shared_rank(",
      "block_total, rank))[", index, "];\n",
      "        total = ", Combine(kind, "total", "other"), ";\n      }\n",
      "      ", out, " = total;\n", "    }\n",
      "    __cluster_barrier_arrive();\n    __cluster_barrier_wait();\n");
}
// Column strategy: 32 kept elements per block (one per lane), 8 threads along the reduced range.
constexpr int kColumnWidth = 32;
constexpr int kColumnDepth = 8;

using ReductionShape = codegen::ReductionGeometry;

// The shared geometry, and what this emitter does not do.
absl::StatusOr<ReductionShape> Analyze(const EmitterContext& k) {
  KILN_ASSIGN_OR_RETURN(ReductionShape r, codegen::AnalyzeReduction(k.graph(), k.kernel()));
  if (k.kernel().outputs.size() != 1 || k.kernel().outputs[0] != k.kernel().root) {
    return absl::UnimplementedError(
        absl::StrCat("reduction kernel ", k.kernel().name, " stores more than its root"));
  }
  return r;
}

std::string InitLiteral(ir::ReduceKind kind) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  switch (kind) {
    case ir::ReduceKind::kSum: return CudaScalarBuilder::FloatLiteral(0.0f);
    case ir::ReduceKind::kMin: return CudaScalarBuilder::FloatLiteral(kInf);
    case ir::ReduceKind::kMax:
    case ir::ReduceKind::kArgMax: return CudaScalarBuilder::FloatLiteral(-kInf);
  }
  return "0.0f";
}

std::string Combine(ir::ReduceKind kind, const std::string& a, const std::string& b) {
  switch (kind) {
    case ir::ReduceKind::kSum: return absl::StrCat(a, " + ", b);
    case ir::ReduceKind::kMin: return absl::StrCat("kiln_rt::MinNaN(", a, ", ", b, ")");
    default: return absl::StrCat("kiln_rt::MaxNaN(", a, ", ", b, ")");
  }
}

const char* WarpReduce(ir::ReduceKind kind) {
  switch (kind) {
    case ir::ReduceKind::kSum: return "kiln_rt::WarpSum";
    case ir::ReduceKind::kMin: return "kiln_rt::WarpMin";
    default: return "kiln_rt::WarpMax";
  }
}

// Input coordinates from the kept coordinates and the reduced ones.
std::vector<Value> Scatter(const ReductionShape& r, const std::vector<Value>& kept,
                           const std::vector<Value>& reduced) {
  std::vector<Value> coords;
  size_t next_kept = 0, next_reduced = 0;
  for (bool is_reduced : r.reduced) {
    coords.push_back(is_reduced ? reduced[next_reduced++] : kept[next_kept++]);
  }
  return coords;
}

// The fold of one element into the thread's accumulator (`acc`, and `best` for argmax).
std::string Accumulate(const ReductionShape& r, const CudaScalarBuilder& sb, Value x,
                       const std::string& index) {
  std::string xs = sb.Name(x);
  if (r.kind == ir::ReduceKind::kArgMax) {
    // Strictly greater: within a thread indices rise, so the first maximum (or NaN) stays.
    return absl::StrCat("if (kiln_rt::ArgMaxGreater(", xs, ", acc)) { acc = ", xs, "; best = ",
                        index, "; }");
  }
  if (r.kind == ir::ReduceKind::kSum) return absl::StrCat("sum.Add(", xs, ");");
  return absl::StrCat("acc = ", Combine(r.kind, "acc", xs), ";");
}

// A thread's accumulator: sums fold through kiln_rt::CascadeSum (error ~log n, not n) and hand
// `acc` its total before the threads combine; max and min fold into `acc` directly.
std::string DeclareAccumulator(const ReductionShape& r, const std::string& indent) {
  std::string decl = absl::StrCat(indent, "float acc = ", InitLiteral(r.kind), ";\n");
  if (r.kind == ir::ReduceKind::kSum) absl::StrAppend(&decl, indent, "kiln_rt::CascadeSum sum;\n");
  return decl;
}

std::string FinishAccumulator(const ReductionShape& r, const std::string& indent) {
  return r.kind == ir::ReduceKind::kSum ? absl::StrCat(indent, "acc = sum.Total();\n") : "";
}

// Rows: the reduced dims are innermost, so output element `row` folds a contiguous row.
absl::StatusOr<CudaKernel> EmitRowReduction(EmitterContext& k, const ReductionShape& r) {
  const int64_t rows = ir::NumElements(r.kept_shape);
  const int64_t row_len = ir::NumElements(r.reduced_shape);
  const bool per_warp = row_len <= kWarpRowLimit;
  const bool argmax = r.kind == ir::ReduceKind::kArgMax;
  const bool cluster = !per_warp && !argmax && rows <= kClusterMaxRows &&
                       row_len >= kClusterMinReduced;
  const std::string lanes =
      per_warp ? "32" : cluster ? "blockDim.x * gridDim.y" : "blockDim.x";
  const std::string lane = per_warp  ? "(threadIdx.x & 31)"
                           : cluster ? "(blockIdx.y * blockDim.x + threadIdx.x)"
                                     : "threadIdx.x";

  CudaScalarBuilder sb("      ");
  codegen::FusedEvaluator eval(k.graph(), k.kernel(), sb, k.Loader(sb));
  std::vector<Value> kept = EmitterContext::Coordinates(sb, "row", r.kept_shape);
  sb.set_indent("        ");
  std::string outer_code = sb.TakeCode();
  std::vector<Value> reduced = EmitterContext::Coordinates(sb, "j", r.reduced_shape);
  Value x = eval.Evaluate(r.operand, Scatter(r, kept, reduced));
  sb.Line(Accumulate(r, sb, x, "j"));
  std::string inner_code = sb.TakeCode();
  KILN_RETURN_IF_ERROR(k.status());
  KILN_ASSIGN_OR_RETURN(std::string out, k.Write(k.kernel().outputs[0]));

  std::string s;
  CudaKernel result;
  std::string signature = k.Signature(kBlockThreads, result.param_slots);
  if (cluster) signature = WithClusterDims(std::move(signature));
  absl::StrAppend(&s, signature, " {\n");
  absl::StrAppend(&s, "  // ", ir::ShapeToString(r.in_shape), " -> ", rows, " rows of ",
                  row_len,
                  per_warp  ? ", one warp per row.\n"
                  : cluster ? absl::StrCat(", one cluster of ", kClusterBlocks, " blocks per row.\n")
                            : ", one block per row.\n");
  if (per_warp) {
    absl::StrAppend(&s, "  const long long warps_per_block = blockDim.x / 32;\n",
                    "  for (long long row = blockIdx.x * warps_per_block + (threadIdx.x >> 5); "
                    "row < ", rows, "ll; row += gridDim.x * warps_per_block) {\n");
  } else {
    absl::StrAppend(&s, "  __shared__ float partial[32];\n",
                    argmax ? "  __shared__ long long partial_index[32];\n" : "",
                    cluster ? "  __shared__ float block_total[1];\n" : "",
                    "  for (long long row = blockIdx.x; row < ", rows,
                    "ll; row += gridDim.x) {\n");
  }
  absl::StrAppend(&s, DeclareAccumulator(r, "    "));
  if (argmax) {
    // A lane that sees no element keeps an index past every real one, so it never wins a tie.
    absl::StrAppend(&s, "    long long best = ", lane, " < ", row_len, "ll ? (long long)", lane,
                    " : 0x7fffffffffffffffll;\n");
  }
  absl::StrAppend(&s, "    {\n", outer_code, "      for (long long j = ", lane, "; j < ", row_len,
                  "ll; j += ", lanes, ") {\n", inner_code, "      }\n    }\n",
                  FinishAccumulator(r, "    "));
  if (argmax) {
    absl::StrAppend(&s, "    kiln_rt::WarpArgMax(acc, best);\n");
  } else {
    absl::StrAppend(&s, "    acc = ", WarpReduce(r.kind), "(acc);\n");
  }
  if (!per_warp) {
    // Warp leaders publish their partials; warp 0 folds them in lane order.
    absl::StrAppend(&s, "    const int warp = threadIdx.x >> 5;\n",
                    "    if ((threadIdx.x & 31) == 0) {\n      partial[warp] = acc;\n",
                    argmax ? "      partial_index[warp] = best;\n" : "", "    }\n",
                    "    __syncthreads();\n", "    if (warp == 0) {\n",
                    "      const int lane = threadIdx.x & 31;\n",
                    "      const bool live = lane < (int)(blockDim.x >> 5);\n",
                    "      acc = live ? partial[lane] : ", InitLiteral(r.kind), ";\n");
    if (argmax) {
      absl::StrAppend(&s, "      best = live ? partial_index[lane] : 0x7fffffffffffffffll;\n",
                      "      kiln_rt::WarpArgMax(acc, best);\n");
    } else {
      absl::StrAppend(&s, "      acc = ", WarpReduce(r.kind), "(acc);\n");
    }
    absl::StrAppend(&s, "    }\n");
  }
  if (cluster) {
    absl::StrAppend(&s, "    if (threadIdx.x == 0) block_total[0] = acc;\n",
                    ClusterFold(r.kind, "threadIdx.x == 0", "0", absl::StrCat(out, "[row]")));
  } else {
    absl::StrAppend(&s, "    if ((threadIdx.x", per_warp ? " & 31" : "", ") == 0) {\n");
    absl::StrAppend(&s, "      ", out, "[row] = ", argmax ? "best" : "acc", ";\n    }\n");
    if (!per_warp) absl::StrAppend(&s, "    __syncthreads();  // partial[] is reused.\n");
  }
  absl::StrAppend(&s, "  }\n}\n");

  result.kind = ir::KernelKind::kReduction;
  result.strategy = per_warp ? Strategy::kWarpPerRow : Strategy::kBlockPerRow;
  result.launch.block = {kBlockThreads, 1, 1};
  const int64_t rows_per_block = per_warp ? kBlockThreads / kWarpSize : 1;
  result.launch.grid = {std::max<int64_t>(1, CeilDiv(rows, rows_per_block)),
                        cluster ? kClusterBlocks : 1, 1};
  result.source = std::move(s);
  return result;
}

// Columns: lanes run over consecutive kept elements (coalesced when the kept dim is innermost);
// threadIdx.y splits the reduced range and the partials are folded in y order.
//
// A long reduced range over few columns (bias gradients over a large batch: 16384 rows of 10 to
// 256 columns) would leave most SMs idle with one block per 32 columns: 380 us on an H200, 1 to
// 8 of its 132 SMs busy. Then a cluster of kClusterBlocks blocks shares each column chunk (see
// kClusterBlocks).

absl::StatusOr<CudaKernel> EmitColumnReduction(EmitterContext& k, const ReductionShape& r) {
  const int64_t kept_count = ir::NumElements(r.kept_shape);
  const int64_t reduced_count = ir::NumElements(r.reduced_shape);
  const bool cluster = reduced_count >= kClusterMinReduced;
  CudaScalarBuilder sb("      ");
  codegen::FusedEvaluator eval(k.graph(), k.kernel(), sb, k.Loader(sb));
  std::vector<Value> kept = EmitterContext::Coordinates(sb, "o", r.kept_shape);
  std::string outer_code = sb.TakeCode();
  sb.set_indent("        ");
  std::vector<Value> reduced = EmitterContext::Coordinates(sb, "red", r.reduced_shape);
  Value x = eval.Evaluate(r.operand, Scatter(r, kept, reduced));
  sb.Line(Accumulate(r, sb, x, "red"));
  std::string inner_code = sb.TakeCode();
  KILN_RETURN_IF_ERROR(k.status());
  KILN_ASSIGN_OR_RETURN(std::string out, k.Write(k.kernel().outputs[0]));

  CudaKernel result;
  std::string signature = k.Signature(kColumnWidth * kColumnDepth, result.param_slots);
  std::string first_row = "threadIdx.y", row_step = "blockDim.y";
  if (cluster) {
    signature = WithClusterDims(std::move(signature));
    first_row = "blockIdx.y * blockDim.y + threadIdx.y";
    row_step = "blockDim.y * gridDim.y";
  }
  std::string s = absl::StrCat(
      signature, " {\n", "  // ", ir::ShapeToString(r.in_shape), " -> ", kept_count,
      " columns of ", reduced_count, ": lanes over columns, threadIdx.y",
      cluster ? absl::StrCat(" and the ", kClusterBlocks, " blocks of a cluster") : "",
      " over the reduced range.\n",
      "  __shared__ float partial[", kColumnDepth, "][", kColumnWidth + 1, "];\n",
      cluster ? absl::StrCat("  __shared__ float block_total[", kColumnWidth, "];\n") : "",
      "  for (long long base = (long long)blockIdx.x * ", kColumnWidth, "; base < ", kept_count,
      "ll; base += (long long)gridDim.x * ", kColumnWidth, ") {\n",
      "    const long long o = base + threadIdx.x;\n",
      DeclareAccumulator(r, "    "),
      "    if (o < ", kept_count, "ll) {\n", outer_code,
      "      for (long long red = ", first_row, "; red < ", reduced_count,
      "ll; red += ", row_step, ") {\n", inner_code, "      }\n    }\n",
      FinishAccumulator(r, "    "),
      "    partial[threadIdx.y][threadIdx.x] = acc;\n", "    __syncthreads();\n",
      "    if (threadIdx.y == 0) {\n",
      "      float total = partial[0][threadIdx.x];\n",
      "      for (int y = 1; y < ", kColumnDepth, "; ++y) total = ",
      Combine(r.kind, "total", "partial[y][threadIdx.x]"), ";\n");
  if (cluster) {
    absl::StrAppend(&s, "      block_total[threadIdx.x] = total;\n", "    }\n",
                    ClusterFold(r.kind, absl::StrCat("threadIdx.y == 0 && o < ", kept_count, "ll"),
                                "threadIdx.x", absl::StrCat(out, "[o]")),
                    "  }\n}\n");
  } else {
    absl::StrAppend(&s, "      if (o < ", kept_count, "ll) ", out, "[o] = total;\n", "    }\n",
                    "    __syncthreads();  // partial[] is reused.\n", "  }\n}\n");
  }

  result.kind = ir::KernelKind::kReduction;
  result.strategy = Strategy::kColumn;
  result.launch.block = {kColumnWidth, kColumnDepth, 1};
  result.launch.grid = {std::max<int64_t>(1, CeilDiv(kept_count, kColumnWidth)),
                        cluster ? kClusterBlocks : 1, 1};
  result.source = std::move(s);
  return result;
}

}  // namespace

absl::StatusOr<CudaKernel> EmitReductionKernel(EmitterContext& k) {
  KILN_ASSIGN_OR_RETURN(ReductionShape r, Analyze(k));
  // argmax carries its index through the row form's warp fold. Over a non-innermost dim its rows
  // are strided (Scatter places the coordinates), which costs coalescing, not correctness.
  if (r.trailing || r.kind == ir::ReduceKind::kArgMax) return EmitRowReduction(k, r);
  return EmitColumnReduction(k, r);
}

}  // namespace kiln::cuda
