#include "runtime/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace kiln::runtime {

int64_t ElementSize(ElementType type) {
  switch (type) {
    case ElementType::kF32:
      return 4;
    case ElementType::kI64:
      return 8;
  }
  return 0;
}

const char* ElementTypeName(ElementType type) {
  switch (type) {
    case ElementType::kF32:
      return "f32";
    case ElementType::kI64:
      return "i64";
  }
  return "?";
}

int64_t NumElements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t dim : shape) n *= dim;
  return n;
}

std::string TypeString(ElementType type, const std::vector<int64_t>& shape) {
  return absl::StrFormat("%s[%s]", ElementTypeName(type), absl::StrJoin(shape, ","));
}

void AlignedBuffer::Free::operator()(void* p) const { std::free(p); }

absl::StatusOr<int64_t> CheckedByteSize(ElementType type, const std::vector<int64_t>& shape) {
  int64_t bytes = ElementSize(type);
  for (int64_t dim : shape) {
    if (dim < 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s has a negative dimension", TypeString(type, shape)));
    }
    if (__builtin_mul_overflow(bytes, dim, &bytes)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s has more bytes than 64 bits can count", TypeString(type, shape)));
    }
  }
  return bytes;
}

absl::StatusOr<AlignedBuffer> AlignedBuffer::Allocate(int64_t bytes) {
  // Refused before rounding up so the rounding cannot overflow.
  if (bytes < 0 || bytes > std::numeric_limits<int64_t>::max() - kBufferAlignment) {
    return absl::ResourceExhaustedError(absl::StrFormat("cannot allocate %d bytes", bytes));
  }
  const int64_t rounded = std::max<int64_t>(
      kBufferAlignment, (bytes + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment);
  void* p = std::aligned_alloc(kBufferAlignment, static_cast<size_t>(rounded));
  if (p == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("cannot allocate %d bytes (out of memory)", bytes));
  }
  std::memset(p, 0, static_cast<size_t>(rounded));
  AlignedBuffer buffer;
  buffer.data_.reset(p);
  buffer.bytes_ = bytes;
  return buffer;
}

absl::StatusOr<Tensor> Tensor::Create(std::string name, ElementType type,
                                      std::vector<int64_t> shape) {
  absl::StatusOr<int64_t> bytes = CheckedByteSize(type, shape);
  absl::StatusOr<AlignedBuffer> buffer =
      bytes.ok() ? AlignedBuffer::Allocate(*bytes) : bytes.status();
  if (!buffer.ok()) {
    return absl::Status(buffer.status().code(),
                        absl::StrFormat("tensor '%s': %s", name, buffer.status().message()));
  }
  return Tensor(std::move(name), type, std::move(shape), *std::move(buffer));
}

}  // namespace kiln::runtime
