// Test helpers for the CUDA backend: a tiny interpreter for the straight-line CUDA C that
// CudaScalarBuilder writes, with C++ semantics, so tests can check what the text *means* (bit
// for bit) on a machine without a GPU.
#ifndef KILN_TESTS_CODEGEN_CUDA_CUDA_TEST_UTIL_H_
#define KILN_TESTS_CODEGEN_CUDA_CUDA_TEST_UTIL_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace kiln::cuda::testing {

struct Scalar {
  enum Type { kF32, kI64, kBool } type = kF32;
  float f32 = 0;
  int64_t i64 = 0;
  bool boolean = false;
};

// Runs `code` (lines `const T vN = EXPR;` as CudaScalarBuilder emits them) with `env` naming the
// inputs; returns every value defined. Unknown expression forms are an error.
absl::StatusOr<std::map<std::string, Scalar>> Interpret(const std::string& code,
                                                        std::map<std::string, Scalar> env);

}  // namespace kiln::cuda::testing

#endif  // KILN_TESTS_CODEGEN_CUDA_CUDA_TEST_UTIL_H_
