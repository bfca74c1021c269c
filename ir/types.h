// Element types and statically known tensor types of the IR.
#ifndef KILN_IR_TYPES_H_
#define KILN_IR_TYPES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln::ir {

// f16/bf16 are reserved for mixed precision; no op accepts them yet.
enum class DType { kF32, kI64, kF16, kBF16 };

absl::string_view DTypeName(DType dtype);  // "f32", "i64", ...
absl::StatusOr<DType> ParseDType(absl::string_view name);
int64_t DTypeSize(DType dtype);
inline bool IsFloat(DType d) { return d != DType::kI64; }

using Shape = std::vector<int64_t>;

// The product of the dims; callers hold shapes that passed CheckTensorSize (or are its operands).
int64_t NumElements(const Shape& shape);

// The largest tensor kiln compiles: far above any model kiln trains, and small enough that element
// counts, byte sizes and the buffer offsets summed from them stay far from int64 overflow.
inline constexpr int64_t kMaxTensorBytes = int64_t{1} << 38;  // 256 GiB

// OK when every dim is >= 0 and the tensor takes at most kMaxTensorBytes; the error names the
// type and its size. Every node's type passes it (GraphBuilder, the verifier).
absl::Status CheckTensorSize(DType dtype, const Shape& shape);

// a * b, or nullopt where it would overflow int64.
std::optional<int64_t> CheckedMul(int64_t a, int64_t b);
std::string ShapeToString(const Shape& shape);  // "[64,784]"

// Row-major strides in elements.
std::vector<int64_t> RowMajorStrides(const Shape& shape);

struct TensorType {
  DType dtype = DType::kF32;
  Shape shape;

  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  int64_t num_elements() const { return NumElements(shape); }
  int64_t bytes() const { return num_elements() * DTypeSize(dtype); }
  std::string ToString() const;  // "f32[64,784]"
  bool operator==(const TensorType& other) const = default;
};

// NumPy broadcasting of two shapes; the error names both shapes and the offending dim.
absl::StatusOr<Shape> BroadcastShapes(const Shape& a, const Shape& b);

}  // namespace kiln::ir

#endif  // KILN_IR_TYPES_H_
