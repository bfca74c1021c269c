// kiln's tensor file: one dense tensor (features or labels) in a small self-checking format.
//
//   HostTensor x{ElementType::kF32, {1000, 10}};  x.f32.assign(...);
//   KILN_RETURN_IF_ERROR(WriteTensorFile("x.kt", x));
//   KILN_ASSIGN_OR_RETURN(HostTensor back, ReadTensorFile("x.kt"));
//
// Layout, all integers little-endian:
//   offset 0   8 bytes  magic "KILNTNSR"
//          8   u32      format version, 1
//         12   u32      dtype: 1 = f32 (IEEE-754 binary32), 2 = i64 (two's complement)
//         16   u32      rank R (at most 8)
//         20   u32      reserved, 0
//         24   i64 x R  dims (each >= 0)
//          …   data     product(dims) elements, row-major, little-endian
//          …   u32      CRC-32 (zlib's polynomial) of every byte before it
// A file that is short, long, has a wrong magic, version, dtype or CRC is a one-line error.
#ifndef KILN_RUNTIME_TENSOR_FILE_H_
#define KILN_RUNTIME_TENSOR_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/program.h"

namespace kiln::runtime {

// A tensor held in ordinary vectors: f32 holds the data when type is kF32, i64 when kI64.
struct HostTensor {
  ElementType type = ElementType::kF32;
  std::vector<int64_t> shape;
  std::vector<float> f32;
  std::vector<int64_t> i64;
};

inline constexpr char kTensorFileMagic[] = "KILNTNSR";

std::string EncodeTensorFile(const HostTensor& tensor);
// `path` only names the data in errors.
absl::StatusOr<HostTensor> DecodeTensorFile(const std::string& bytes, const std::string& path);

absl::Status WriteTensorFile(const std::string& path, const HostTensor& tensor);
absl::StatusOr<HostTensor> ReadTensorFile(const std::string& path);

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_TENSOR_FILE_H_
