#include "runtime/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

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

AlignedBuffer::AlignedBuffer(int64_t bytes) : bytes_(bytes) {
  const int64_t rounded = std::max<int64_t>(
      kBufferAlignment, (bytes + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment);
  void* p = std::aligned_alloc(kBufferAlignment, static_cast<size_t>(rounded));
  if (p == nullptr) throw std::bad_alloc();
  std::memset(p, 0, static_cast<size_t>(rounded));
  data_.reset(p);
}

Tensor::Tensor(std::string name, ElementType type, std::vector<int64_t> shape)
    : name_(std::move(name)),
      type_(type),
      shape_(std::move(shape)),
      buffer_(NumElements(shape_) * ElementSize(type_)) {}

}  // namespace kiln::runtime
