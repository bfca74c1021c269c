#include "runtime/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <utility>

#include <sys/mman.h>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "runtime/huge_pages.h"
#include "support/status.h"

namespace kiln::runtime {
namespace {
// Buffers this large come straight from the kernel (see AlignedBuffer::Allocate); smaller ones
// from the heap, where a page-granular mapping would waste memory.
constexpr int64_t kMappedBufferBytes = int64_t{1} << 20;
}  // namespace

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

void AlignedBuffer::Free::operator()(void* p) const {
  switch (kind) {
    case Kind::kHeap:
      std::free(p);
      return;
    case Kind::kMapped:
      munmap(p, static_cast<size_t>(mapped_bytes));
      return;
    case Kind::kNotOwned:
      return;
  }
}

int64_t MemoryRegion::Footprint(int64_t bytes) {
  return std::max<int64_t>(kBufferAlignment,
                           (bytes + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment);
}

absl::StatusOr<void*> MemoryRegion::Take(int64_t bytes) {
  const int64_t footprint = Footprint(bytes);
  if (reinterpret_cast<uintptr_t>(base_) % kBufferAlignment != 0) {
    return absl::InvalidArgumentError("the memory given is not 64-byte aligned");
  }
  if (footprint > bytes_ - used_) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "the memory given (%d bytes) is too small: %d more are needed", bytes_,
        footprint - (bytes_ - used_)));
  }
  void* p = base_ + used_;
  used_ += footprint;
  std::memset(p, 0, static_cast<size_t>(footprint));
  return p;
}

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

absl::StatusOr<AlignedBuffer> AlignedBuffer::Allocate(int64_t bytes, MemoryRegion* region) {
  // Refused before rounding up so the rounding cannot overflow.
  if (bytes < 0 || bytes > std::numeric_limits<int64_t>::max() - kBufferAlignment) {
    return absl::ResourceExhaustedError(absl::StrFormat("cannot allocate %d bytes", bytes));
  }
  if (region != nullptr) {
    KILN_ASSIGN_OR_RETURN(void* p, region->Take(bytes));
    AlignedBuffer buffer;
    buffer.data_ = std::unique_ptr<void, Free>(p, Free::NotOwned());
    buffer.bytes_ = bytes;
    return buffer;
  }
  const int64_t rounded = std::max<int64_t>(
      kBufferAlignment, (bytes + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment);
  if (rounded >= kMappedBufferBytes) {
    // Fresh anonymous pages are zero and page-aligned: no memset, and a page is only touched
    // (faulted in) when a step first writes it. Zeroing a ResNet-18's arenas up front was a
    // third of a warm `kiln train` start.
    void* p = mmap(nullptr, static_cast<size_t>(rounded), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      return absl::ResourceExhaustedError(
          absl::StrFormat("cannot allocate %d bytes (out of memory)", bytes));
    }
    // 2 MiB pages: a GEMM's B panel reads k rows n floats apart, each row on a page of its own
    // with 4 KiB pages, so every row of the wide MLP's 4096 x 4096 weights cost a TLB miss. Its
    // training step, `kiln bench --warm` on the AVX-512 Xeon, 6 interleaved runs: 183-197 ->
    // 178-183 ms; kiln_gemm_bench's wide shapes 5-10%. Start-up unchanged (the same bytes are
    // zeroed, in fewer faults). Best effort: a refusal leaves ordinary pages.
    AdviseHugePages(p, static_cast<size_t>(rounded));
    AlignedBuffer buffer;
    buffer.data_ = std::unique_ptr<void, Free>(p, Free::Mapped(rounded));
    buffer.bytes_ = bytes;
    return buffer;
  }
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
                                      std::vector<int64_t> shape, MemoryRegion* region) {
  absl::StatusOr<int64_t> bytes = CheckedByteSize(type, shape);
  absl::StatusOr<AlignedBuffer> buffer =
      bytes.ok() ? AlignedBuffer::Allocate(*bytes, region) : bytes.status();
  if (!buffer.ok()) {
    return absl::Status(buffer.status().code(),
                        absl::StrFormat("tensor '%s': %s", name, buffer.status().message()));
  }
  return Tensor(std::move(name), type, std::move(shape), *std::move(buffer));
}

}  // namespace kiln::runtime
