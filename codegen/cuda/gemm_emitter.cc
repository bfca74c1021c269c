// Matmul kernels: a generated shared-memory tiled GEMM whose epilogue is the kernel's fused
// consumers (evaluated per output element by the FusedEvaluator), plus a cuBLASLt plan saying
// which of them cuBLASLt's fixed epilogues could take over.
#include "absl/strings/str_cat.h"
#include "codegen/cuda/emitter_context.h"
#include "ir/op_registry.h"
#include "support/status.h"

namespace kiln::cuda {
namespace {

using ir::NodeId;
using kernel::ScalarType;
using kernel::Value;

// Block tile 64x64, k-step 16, 256 threads as 16x16, each computing 4x4 outputs strided by 16
// (rows ty + 16i, cols tx + 16j) so that a warp's shared-memory reads hit distinct banks.
constexpr int kTile = 64;
constexpr int kTileK = 16;
constexpr int kGemmThreads = 256;
constexpr int64_t kMaxGridY = 65535;

bool IsKernelInput(const ir::Kernel& kernel, NodeId id) {
  for (NodeId input : kernel.inputs) {
    if (input == id) return true;
  }
  return false;
}

// Matches `relu(matmul + bias)` and its sub-patterns against the kernel's nodes.
// Sets *bias to the bias node when the pattern has one.
void PlanCublasLtEpilogue(const EmitterContext& k, GemmPlan& plan, NodeId* bias_node) {
  const ir::Kernel& kernel = k.kernel();
  std::vector<NodeId> rest;
  for (NodeId id : kernel.nodes) {
    if (id != kernel.root) rest.push_back(id);
  }
  NodeId current = kernel.root;
  size_t next = 0;
  bool bias = false, relu = false;
  auto epilogue_of = [&](NodeId id) { return ir::OpOf(k.node(id)).library_epilogue; };
  if (next < rest.size() && epilogue_of(rest[next]) == ir::LibraryEpilogue::kAdd) {
    const ir::Node& add = k.node(rest[next]);
    NodeId other = add.operands[0] == current ? add.operands[1] : add.operands[0];
    const ir::Shape& shape = k.node(other).type.shape;
    bool is_bias = (add.operands[0] == current || add.operands[1] == current) &&
                   IsKernelInput(kernel, other) && !shape.empty() && shape.back() == plan.n &&
                   ir::NumElements(shape) == plan.n;
    if (is_bias) {
      bias = true;
      *bias_node = other;
      current = add.id;
      ++next;
    }
  }
  if (next < rest.size() && epilogue_of(rest[next]) == ir::LibraryEpilogue::kRelu &&
      k.node(rest[next]).operands[0] == current) {
    relu = true;
    current = rest[next];
    ++next;
  }
  if (next != rest.size()) {
    plan.epilogue = GemmEpilogue::kGeneric;
    std::string ops;
    for (size_t i = next; i < rest.size(); ++i) absl::StrAppend(&ops, " ", k.node(rest[i]).op.name());
    plan.reason = absl::StrCat("epilogue ops cuBLASLt cannot express:", ops);
    return;
  }
  plan.epilogue = bias ? (relu ? GemmEpilogue::kBiasRelu : GemmEpilogue::kBias)
                       : (relu ? GemmEpilogue::kRelu : GemmEpilogue::kNone);
  if (kernel.outputs.size() != 1 || kernel.outputs[0] != current) {
    plan.reason = "the kernel also stores an intermediate value (would need an aux output)";
    return;
  }
  plan.cublaslt_representable = true;
}

// Fills the shared-memory tile of an operand; `coalesced_inner` is the dim contiguous in memory.
std::string TileLoad(const std::string& tile, const std::string& pointer, bool k_contiguous,
                     int64_t outer_extent, int64_t k_extent, const char* outer_name,
                     int64_t stride, bool k_major_storage) {
  // Element t of the tile is (kk, idx): pick the mapping that walks memory contiguously.
  std::string kk = k_contiguous ? absl::StrCat("t % ", kTileK) : absl::StrCat("t / ", kTile);
  std::string idx = k_contiguous ? absl::StrCat("t / ", kTileK) : absl::StrCat("t % ", kTile);
  std::string g_outer = absl::StrCat(outer_name, "0 + ", tile, "_i");
  std::string address = k_major_storage
                            ? absl::StrCat("(k0 + ", tile, "_k) * ", stride, "ll + ", g_outer)
                            : absl::StrCat("(", g_outer, ") * ", stride, "ll + k0 + ", tile, "_k");
  return absl::StrCat("      {\n        const int ", tile, "_k = ", kk, ";\n        const int ", tile,
                      "_i = ", idx, ";\n        ", tile, "[", tile, "_k][", tile, "_i] = (", g_outer,
                      " < ", outer_extent, "ll && k0 + ", tile, "_k < ", k_extent, "ll) ? ",
                      pointer, "[", address, "] : 0.0f;\n      }\n");
}

}  // namespace

absl::StatusOr<CudaKernel> EmitMatmulKernel(EmitterContext& k) {
  const ir::Kernel& kernel = k.kernel();
  const ir::Node& mm = k.node(kernel.root);
  const ir::Shape& a_shape = k.node(mm.operands[0]).type.shape;
  if (mm.type.shape.size() != 2 || a_shape.size() != 2) {
    return absl::UnimplementedError(absl::StrCat("matmul of rank ", mm.type.shape.size()));
  }
  GemmPlan plan;
  plan.transpose_a = mm.attrs.GetInt("transpose_a") != 0;
  plan.transpose_b = mm.attrs.GetInt("transpose_b") != 0;
  plan.m = mm.type.shape[0];
  plan.n = mm.type.shape[1];
  plan.k = plan.transpose_a ? a_shape[0] : a_shape[1];
  if (CeilDiv(plan.m, kTile) > kMaxGridY) {
    return absl::UnimplementedError(absl::StrCat("matmul with ", plan.m, " rows"));
  }
  KILN_ASSIGN_OR_RETURN(std::string a, k.Read(mm.operands[0]));
  KILN_ASSIGN_OR_RETURN(std::string b, k.Read(mm.operands[1]));
  plan.a_slot = std::stoi(a.substr(1));
  plan.b_slot = std::stoi(b.substr(1));

  // The epilogue: every output at (row, col), the accumulator standing in for the matmul.
  CudaScalarBuilder sb("          ");
  codegen::FusedEvaluator eval(k.graph(), kernel, sb, k.Loader(sb));
  std::vector<Value> coords = {sb.Emit(ScalarType::kI64, "row"), sb.Emit(ScalarType::kI64, "col")};
  eval.Define(mm.id, coords, sb.Emit(ScalarType::kF32, "acc[i][j]"));
  for (NodeId out : kernel.outputs) {
    if (k.node(out).type.shape != mm.type.shape) {
      return absl::UnimplementedError(absl::StrCat("matmul kernel ", kernel.name, ": output ", out,
                                                   " is not of the matmul's shape"));
    }
    std::string index = EmitterContext::LinearIndex(sb, coords, mm.type.shape);
    KILN_RETURN_IF_ERROR(k.Store(sb, out, index, eval.Evaluate(out, coords)));
  }
  KILN_RETURN_IF_ERROR(k.status());
  KILN_ASSIGN_OR_RETURN(std::string c, k.Write(kernel.outputs[0]));
  plan.c_slot = std::stoi(c.substr(1));
  NodeId bias = ir::kNoNode;
  PlanCublasLtEpilogue(k, plan, &bias);
  if (plan.epilogue == GemmEpilogue::kBias || plan.epilogue == GemmEpilogue::kBiasRelu) {
    KILN_ASSIGN_OR_RETURN(std::string bias_name, k.Read(bias));
    plan.bias_slot = std::stoi(bias_name.substr(1));
  }

  // A is [M,K] row-major, or [K,M] when transposed; B is [K,N], or [N,K] when transposed.
  std::string as_load = TileLoad("As", a, /*k_contiguous=*/!plan.transpose_a, plan.m, plan.k,
                                 "row", plan.transpose_a ? plan.m : plan.k, plan.transpose_a);
  std::string bs_load = TileLoad("Bs", b, /*k_contiguous=*/plan.transpose_b, plan.n, plan.k,
                                 "col", plan.transpose_b ? plan.k : plan.n, !plan.transpose_b);
  CudaKernel result;
  std::string s = absl::StrCat(
      k.Signature(kGemmThreads, result.param_slots), " {\n",
      "  // C[", plan.m, ",", plan.n, "] = ", plan.transpose_a ? "A^T" : "A", " * ",
      plan.transpose_b ? "B^T" : "B", ", K = ", plan.k, "; epilogue: ",
      GemmEpilogueName(plan.epilogue), ".\n",
      "  __shared__ float As[", kTileK, "][", kTile + 4, "];\n",
      "  __shared__ float Bs[", kTileK, "][", kTile + 4, "];\n",
      "  const int tx = threadIdx.x % 16;\n  const int ty = threadIdx.x / 16;\n",
      "  const long long row0 = (long long)blockIdx.y * ", kTile, ";\n",
      "  const long long col0 = (long long)blockIdx.x * ", kTile, ";\n",
      "  float acc[4][4] = {};\n",
      "  for (long long k0 = 0; k0 < ", plan.k, "ll; k0 += ", kTileK, ") {\n",
      "    for (int t = threadIdx.x; t < ", kTile * kTileK, "; t += ", kGemmThreads, ") {\n",
      as_load, bs_load, "    }\n    __syncthreads();\n",
      "#pragma unroll\n    for (int kk = 0; kk < ", kTileK, "; ++kk) {\n",
      "      float a[4], b[4];\n",
      "#pragma unroll\n      for (int i = 0; i < 4; ++i) a[i] = As[kk][ty + 16 * i];\n",
      "#pragma unroll\n      for (int j = 0; j < 4; ++j) b[j] = Bs[kk][tx + 16 * j];\n",
      "#pragma unroll\n      for (int i = 0; i < 4; ++i) {\n",
      "#pragma unroll\n        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);\n",
      "      }\n    }\n    __syncthreads();\n  }\n",
      "#pragma unroll\n  for (int i = 0; i < 4; ++i) {\n",
      "#pragma unroll\n    for (int j = 0; j < 4; ++j) {\n",
      "      const long long row = row0 + ty + 16 * i;\n",
      "      const long long col = col0 + tx + 16 * j;\n",
      "      if (row < ", plan.m, "ll && col < ", plan.n, "ll) {\n", sb.TakeCode(),
      "      }\n    }\n  }\n}\n");

  result.kind = ir::KernelKind::kMatmul;
  result.strategy = Strategy::kTiledGemm;
  result.launch.block = {kGemmThreads, 1, 1};
  result.launch.grid = {CeilDiv(plan.n, kTile), CeilDiv(plan.m, kTile), 1};
  result.gemm = std::move(plan);
  result.source = std::move(s);
  return result;
}

}  // namespace kiln::cuda
