#include "ir/types.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace kiln::ir {

absl::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "f32";
    case DType::kI64: return "i64";
    case DType::kF16: return "f16";
    case DType::kBF16: return "bf16";
  }
  return "?";
}

absl::StatusOr<DType> ParseDType(absl::string_view name) {
  for (DType d : {DType::kF32, DType::kI64, DType::kF16, DType::kBF16}) {
    if (DTypeName(d) == name) return d;
  }
  return absl::InvalidArgumentError(absl::StrFormat("unknown dtype '%s'", name));
}

int64_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kF32: return 4;
    case DType::kI64: return 8;
    case DType::kF16:
    case DType::kBF16: return 2;
  }
  return 0;
}

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::optional<int64_t> CheckedMul(int64_t a, int64_t b) {
  int64_t product;
  if (__builtin_mul_overflow(a, b, &product)) return std::nullopt;
  return product;
}

absl::Status CheckTensorSize(DType dtype, const Shape& shape) {
  const std::string type = absl::StrCat(DTypeName(dtype), ShapeToString(shape));
  // Sizes are multiplied in double for the message: exact enough to say how far over it is.
  double bytes = static_cast<double>(DTypeSize(dtype));
  for (int64_t d : shape) {
    if (d < 0) {
      return absl::InvalidArgumentError(absl::StrFormat("%s has a negative dimension", type));
    }
    bytes *= static_cast<double>(d);
  }
  if (bytes > static_cast<double>(kMaxTensorBytes)) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s takes %.3g bytes, more than kiln's limit of %d GiB per tensor", type, bytes,
        kMaxTensorBytes >> 30));
  }
  return absl::OkStatus();
}

std::string ShapeToString(const Shape& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

std::vector<int64_t> RowMajorStrides(const Shape& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i) {
    strides[i] = strides[i + 1] * shape[i + 1];
  }
  return strides;
}

std::string TensorType::ToString() const {
  return absl::StrCat(DTypeName(dtype), ShapeToString(shape));
}

absl::StatusOr<Shape> BroadcastShapes(const Shape& a, const Shape& b) {
  size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "cannot broadcast %s with %s (dim %d: %d vs %d)", ShapeToString(a), ShapeToString(b),
          i, da, db));
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace kiln::ir
