// cuBLASLt for kiln's matmul kernels, loaded with dlopen("libcublasLt.so.13") so kiln needs
// neither the library nor CUDA headers to build or start; when it cannot be loaded the executor
// launches the generated GEMM kernels instead.
//
// Row-major to column-major: kiln's buffers are row-major and cuBLASLt's matrices column-major.
// A row-major X[r,c] read column-major is X^T[c,r] with leading dimension c. So row-major
// C[M,N] = op(A)·op(B) is computed as the column-major C^T[N,M] = op(B)^T · op(A)^T:
// cuBLASLt's "A" is kiln's B and its "B" is kiln's A, (m, n, k) = (N, M, K), and the bias of
// length N is cuBLASLt's per-row bias (CUBLASLT_EPILOGUE_BIAS / RELU_BIAS). LtLayoutFor does this
// arithmetic; tests check it for all four transpose combinations against a row-major matmul.
//
// Status: the layout math is tested on the host. The cuBLASLt calls are written against
// cublasLt.h (13.x) but have NOT been run on a GPU.
#ifndef KILN_RUNTIME_CUDA_CUBLASLT_H_
#define KILN_RUNTIME_CUDA_CUBLASLT_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/cuda/cuda_driver.h"
#include "runtime/cuda/device_plan.h"

namespace kiln::runtime {

// cublasLt.h / library_types.h values passed to the library (checked against the headers by
// kiln_cuda_device_plan_test).
namespace lt_abi {
inline constexpr int kOpN = 0;                      // CUBLAS_OP_N
inline constexpr int kOpT = 1;                      // CUBLAS_OP_T
inline constexpr int kComputeF32 = 68;              // CUBLAS_COMPUTE_32F (no TF32)
inline constexpr int kDataF32 = 0;                  // CUDA_R_32F
inline constexpr int kDescTransA = 3;               // CUBLASLT_MATMUL_DESC_TRANSA
inline constexpr int kDescTransB = 4;               // CUBLASLT_MATMUL_DESC_TRANSB
inline constexpr int kDescEpilogue = 7;             // CUBLASLT_MATMUL_DESC_EPILOGUE
inline constexpr int kDescBiasPointer = 8;          // CUBLASLT_MATMUL_DESC_BIAS_POINTER
inline constexpr int kEpilogueDefault = 1;          // CUBLASLT_EPILOGUE_DEFAULT
inline constexpr int kEpilogueRelu = 2;             // CUBLASLT_EPILOGUE_RELU
inline constexpr int kEpilogueBias = 4;             // CUBLASLT_EPILOGUE_BIAS
inline constexpr int kEpilogueReluBias = 6;         // CUBLASLT_EPILOGUE_RELU_BIAS
inline constexpr int kPrefMaxWorkspaceBytes = 1;    // CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES
inline constexpr size_t kAlgoBytes = 64;            // sizeof(cublasLtMatmulAlgo_t)
inline constexpr size_t kHeuristicResultBytes = 96; // sizeof(cublasLtMatmulHeuristicResult_t)
}  // namespace lt_abi

// One column-major matrix as cuBLASLt's layout describes it (before its op is applied).
struct LtMatrix {
  int slot = -1;  // kiln buffer.
  int64_t rows = 0, cols = 0, ld = 0;
};

// The column-major problem D = op_a(A) · op_b(B) (+ bias per row of D) cuBLASLt is asked for.
struct LtLayout {
  int64_t m = 0, n = 0, k = 0;
  int trans_a = lt_abi::kOpN, trans_b = lt_abi::kOpN;
  LtMatrix a, b, c;  // c is also D.
  int bias_slot = -1;
  int epilogue = lt_abi::kEpilogueDefault;
};

LtLayout LtLayoutFor(const DeviceGemm& gemm);

// The library, its handle, and one prepared matmul per kernel.
class CublasLt {
 public:
  // NotFound-style error (one line) when libcublasLt.so.13 cannot be loaded or initialized.
  static absl::StatusOr<std::unique_ptr<CublasLt>> Load();
  ~CublasLt();
  CublasLt(const CublasLt&) = delete;
  CublasLt& operator=(const CublasLt&) = delete;

  struct Matmul {
    LtLayout layout;
    void* desc = nullptr;
    void* a = nullptr;  // Layout descriptors.
    void* b = nullptr;
    void* c = nullptr;
    alignas(8) unsigned char algo[lt_abi::kAlgoBytes] = {};
  };

  // Creates the descriptors and picks an algorithm within `workspace_bytes`. Fails (and the
  // caller falls back to the generated kernel) when cuBLASLt has no algorithm for it.
  absl::StatusOr<std::unique_ptr<Matmul>> Prepare(const DeviceGemm& gemm, int64_t workspace_bytes);
  void Release(Matmul& matmul);

  // Enqueues D = ... on `stream` (capturable: no allocation, fixed workspace).
  absl::Status Run(const Matmul& matmul, const std::vector<uint64_t>& slot_addresses,
                   CudaDevicePtr workspace, int64_t workspace_bytes, CudaStream stream);

 private:
  struct Api;
  explicit CublasLt(std::unique_ptr<Api> api);
  std::unique_ptr<Api> api_;
  void* handle_ = nullptr;
};

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_CUDA_CUBLASLT_H_
