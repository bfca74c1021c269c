#include "runtime/cuda/cublaslt.h"

#include <dlfcn.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "support/status.h"

namespace kiln::runtime {

LtLayout LtLayoutFor(const DeviceGemm& gemm) {
  LtLayout lt;
  lt.m = gemm.n;
  lt.n = gemm.m;
  lt.k = gemm.k;
  // cuBLASLt's A is kiln's B. Row-major B[K,N] read column-major is B^T[N,K] (ld N), already
  // op(B)^T; a transposed B is stored [N,K], read as [K,N] (ld K) and transposed back.
  lt.trans_a = gemm.transpose_b ? lt_abi::kOpT : lt_abi::kOpN;
  lt.a = gemm.transpose_b ? LtMatrix{gemm.b_slot, gemm.k, gemm.n, gemm.k}
                          : LtMatrix{gemm.b_slot, gemm.n, gemm.k, gemm.n};
  // cuBLASLt's B is kiln's A: row-major A[M,K] read column-major is A^T[K,M] (ld K); a
  // transposed A is stored [K,M], read as [M,K] (ld M).
  lt.trans_b = gemm.transpose_a ? lt_abi::kOpT : lt_abi::kOpN;
  lt.b = gemm.transpose_a ? LtMatrix{gemm.a_slot, gemm.m, gemm.k, gemm.m}
                          : LtMatrix{gemm.a_slot, gemm.k, gemm.m, gemm.k};
  lt.c = LtMatrix{gemm.c_slot, gemm.n, gemm.m, gemm.n};
  switch (gemm.epilogue) {
    case LtEpilogue::kNone:
      lt.epilogue = lt_abi::kEpilogueDefault;
      break;
    case LtEpilogue::kRelu:
      lt.epilogue = lt_abi::kEpilogueRelu;
      break;
    case LtEpilogue::kBias:
      lt.epilogue = lt_abi::kEpilogueBias;
      lt.bias_slot = gemm.bias_slot;
      break;
    case LtEpilogue::kBiasRelu:
      lt.epilogue = lt_abi::kEpilogueReluBias;
      lt.bias_slot = gemm.bias_slot;
      break;
  }
  return lt;
}

// The cublasLt.h entry points kiln calls, with the handle and descriptor types as void*.
struct CublasLt::Api {
  using Status = int;  // cublasStatus_t; 0 is CUBLAS_STATUS_SUCCESS.
  void* library = nullptr;
  Status (*Create)(void**) = nullptr;
  Status (*Destroy)(void*) = nullptr;
  Status (*DescCreate)(void**, int, int) = nullptr;
  Status (*DescDestroy)(void*) = nullptr;
  Status (*DescSetAttribute)(void*, int, const void*, size_t) = nullptr;
  Status (*LayoutCreate)(void**, int, uint64_t, uint64_t, int64_t) = nullptr;
  Status (*LayoutDestroy)(void*) = nullptr;
  Status (*PrefCreate)(void**) = nullptr;
  Status (*PrefDestroy)(void*) = nullptr;
  Status (*PrefSetAttribute)(void*, int, const void*, size_t) = nullptr;
  Status (*Heuristic)(void*, void*, void*, void*, void*, void*, void*, int, void*, int*) = nullptr;
  Status (*Matmul)(void*, void*, const void*, const void*, void*, const void*, void*, const void*,
                   const void*, void*, void*, void*, const void*, void*, size_t, void*) = nullptr;
};

namespace {

template <typename Fn>
bool Resolve(void* library, const char* symbol, Fn& fn) {
  fn = reinterpret_cast<Fn>(dlsym(library, symbol));
  return fn != nullptr;
}

absl::Status Check(int status, const char* what) {
  if (status == 0) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, " failed: cublasStatus_t ", status));
}

}  // namespace

absl::StatusOr<std::unique_ptr<CublasLt>> CublasLt::Load() {
  auto api = std::make_unique<Api>();
  api->library = dlopen("libcublasLt.so.13", RTLD_NOW | RTLD_LOCAL);
  if (api->library == nullptr) {
    const char* error = dlerror();
    return absl::UnavailableError(
        absl::StrCat("cuBLASLt not loadable: ", error != nullptr ? error : "?"));
  }
  void* lib = api->library;
  const bool ok = Resolve(lib, "cublasLtCreate", api->Create) &&
                  Resolve(lib, "cublasLtDestroy", api->Destroy) &&
                  Resolve(lib, "cublasLtMatmulDescCreate", api->DescCreate) &&
                  Resolve(lib, "cublasLtMatmulDescDestroy", api->DescDestroy) &&
                  Resolve(lib, "cublasLtMatmulDescSetAttribute", api->DescSetAttribute) &&
                  Resolve(lib, "cublasLtMatrixLayoutCreate", api->LayoutCreate) &&
                  Resolve(lib, "cublasLtMatrixLayoutDestroy", api->LayoutDestroy) &&
                  Resolve(lib, "cublasLtMatmulPreferenceCreate", api->PrefCreate) &&
                  Resolve(lib, "cublasLtMatmulPreferenceDestroy", api->PrefDestroy) &&
                  Resolve(lib, "cublasLtMatmulPreferenceSetAttribute", api->PrefSetAttribute) &&
                  Resolve(lib, "cublasLtMatmulAlgoGetHeuristic", api->Heuristic) &&
                  Resolve(lib, "cublasLtMatmul", api->Matmul);
  if (!ok) return absl::UnavailableError(absl::StrCat("cuBLASLt lacks a symbol: ", dlerror()));
  std::unique_ptr<CublasLt> lt(new CublasLt(std::move(api)));
  KILN_RETURN_IF_ERROR(Check(lt->api_->Create(&lt->handle_), "cublasLtCreate"));
  return lt;
}

CublasLt::CublasLt(std::unique_ptr<Api> api) : api_(std::move(api)) {}

CublasLt::~CublasLt() {
  if (handle_ != nullptr) api_->Destroy(handle_);
  // The library stays loaded, like the driver.
}

absl::StatusOr<std::unique_ptr<CublasLt::Matmul>> CublasLt::Prepare(const DeviceGemm& gemm,
                                                                    int64_t workspace_bytes) {
  auto matmul = std::make_unique<Matmul>();
  matmul->layout = LtLayoutFor(gemm);
  const LtLayout& lt = matmul->layout;
  absl::Status status = [&]() -> absl::Status {
    KILN_RETURN_IF_ERROR(Check(api_->DescCreate(&matmul->desc, lt_abi::kComputeF32, lt_abi::kDataF32),
                               "cublasLtMatmulDescCreate"));
    const int32_t trans_a = lt.trans_a, trans_b = lt.trans_b;
    const uint32_t epilogue = static_cast<uint32_t>(lt.epilogue);
    KILN_RETURN_IF_ERROR(Check(api_->DescSetAttribute(matmul->desc, lt_abi::kDescTransA, &trans_a,
                                                      sizeof(trans_a)), "set TRANSA"));
    KILN_RETURN_IF_ERROR(Check(api_->DescSetAttribute(matmul->desc, lt_abi::kDescTransB, &trans_b,
                                                      sizeof(trans_b)), "set TRANSB"));
    KILN_RETURN_IF_ERROR(Check(api_->DescSetAttribute(matmul->desc, lt_abi::kDescEpilogue,
                                                      &epilogue, sizeof(epilogue)), "set EPILOGUE"));
    for (auto [matrix, out] : {std::pair{&lt.a, &matmul->a}, std::pair{&lt.b, &matmul->b},
                               std::pair{&lt.c, &matmul->c}}) {
      KILN_RETURN_IF_ERROR(Check(api_->LayoutCreate(out, lt_abi::kDataF32, matrix->rows,
                                                    matrix->cols, matrix->ld),
                                 "cublasLtMatrixLayoutCreate"));
    }
    void* preference = nullptr;
    KILN_RETURN_IF_ERROR(Check(api_->PrefCreate(&preference), "cublasLtMatmulPreferenceCreate"));
    const uint64_t max_workspace = static_cast<uint64_t>(workspace_bytes);
    int found = 0;
    alignas(8) unsigned char result[lt_abi::kHeuristicResultBytes] = {};
    absl::Status heuristic = Check(
        api_->PrefSetAttribute(preference, lt_abi::kPrefMaxWorkspaceBytes, &max_workspace,
                               sizeof(max_workspace)),
        "set MAX_WORKSPACE_BYTES");
    if (heuristic.ok()) {
      heuristic = Check(api_->Heuristic(handle_, matmul->desc, matmul->a, matmul->b, matmul->c,
                                        matmul->c, preference, 1, result, &found),
                        "cublasLtMatmulAlgoGetHeuristic");
    }
    api_->PrefDestroy(preference);
    KILN_RETURN_IF_ERROR(heuristic);
    if (found < 1) return absl::NotFoundError("cuBLASLt has no algorithm for this matmul");
    std::memcpy(matmul->algo, result, lt_abi::kAlgoBytes);  // algo is the result's first member.
    return absl::OkStatus();
  }();
  if (!status.ok()) {
    Release(*matmul);
    return status;
  }
  return matmul;
}

void CublasLt::Release(Matmul& matmul) {
  for (void** layout : {&matmul.a, &matmul.b, &matmul.c}) {
    if (*layout != nullptr) api_->LayoutDestroy(*layout);
    *layout = nullptr;
  }
  if (matmul.desc != nullptr) api_->DescDestroy(matmul.desc);
  matmul.desc = nullptr;
}

absl::Status CublasLt::Run(const Matmul& matmul, const std::vector<uint64_t>& slot_addresses,
                           CudaDevicePtr workspace, int64_t workspace_bytes, CudaStream stream) {
  const LtLayout& lt = matmul.layout;
  if (lt.bias_slot >= 0) {
    // The bias address is a descriptor attribute; setting it per run keeps one descriptor valid
    // for every input parity (the bias is a parameter, so the address never changes anyway).
    const uint64_t bias = slot_addresses[lt.bias_slot];
    KILN_RETURN_IF_ERROR(Check(
        api_->DescSetAttribute(matmul.desc, lt_abi::kDescBiasPointer, &bias, sizeof(bias)),
        "set BIAS_POINTER"));
  }
  const float alpha = 1.0f, beta = 0.0f;
  auto pointer = [&](int slot) { return reinterpret_cast<void*>(slot_addresses[slot]); };
  return Check(api_->Matmul(handle_, matmul.desc, &alpha, pointer(lt.a.slot), matmul.a,
                            pointer(lt.b.slot), matmul.b, &beta, pointer(lt.c.slot), matmul.c,
                            pointer(lt.c.slot), matmul.c, matmul.algo,
                            reinterpret_cast<void*>(workspace), static_cast<size_t>(workspace_bytes),
                            stream.handle),
               "cublasLtMatmul");
}

}  // namespace kiln::runtime
