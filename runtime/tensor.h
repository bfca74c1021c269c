// Runtime-owned memory: 64-byte aligned, zero-filled buffers, and tensors (a buffer with an
// element type and shape) for persistent state. Allocated when an Executable is built, never
// during a step.
#ifndef KILN_RUNTIME_TENSOR_H_
#define KILN_RUNTIME_TENSOR_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/program.h"
#include "support/buffer_alignment.h"

namespace kiln::runtime {

int64_t ElementSize(ElementType type);
const char* ElementTypeName(ElementType type);
int64_t NumElements(const std::vector<int64_t>& shape);
// "f32[784,256]", "i64[]".
std::string TypeString(ElementType type, const std::vector<int64_t>& shape);
// The bytes a tensor of `type` and `shape` holds, or an error when a dimension is negative or
// the product overflows 64 bits (shapes from files and compiled programs are not trusted).
absl::StatusOr<int64_t> CheckedByteSize(ElementType type, const std::vector<int64_t>& shape);

// Caller-owned memory that buffers are carved from in order instead of the heap (the C
// library's kiln_create_in): each piece 64-byte aligned, zero-filled, never freed by kiln.
class MemoryRegion {
 public:
  MemoryRegion(void* base, int64_t bytes) : base_(static_cast<char*>(base)), bytes_(bytes) {}
  // `bytes` rounded up to the alignment; ResourceExhausted when the region is used up.
  absl::StatusOr<void*> Take(int64_t bytes);
  // What Take(bytes) uses of a region.
  static int64_t Footprint(int64_t bytes);

 private:
  char* base_;
  int64_t bytes_;
  int64_t used_ = 0;
};

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  // At least `bytes` (rounded up to the alignment; never null, even for 0), zero-filled. A size
  // the machine cannot provide is ResourceExhausted ("cannot allocate 21474836480 bytes"), not a
  // crash. With a region, the memory is taken from it and not freed.
  static absl::StatusOr<AlignedBuffer> Allocate(int64_t bytes, MemoryRegion* region = nullptr);

  void* data() const { return data_.get(); }
  int64_t bytes() const { return bytes_; }

 private:
  struct Free {
    enum class Kind { kHeap, kMapped, kNotOwned };  // kNotOwned: memory of a MemoryRegion.
    Free() : kind(Kind::kHeap), mapped_bytes(0) {}
    static Free NotOwned() { return Free(Kind::kNotOwned, 0); }
    static Free Mapped(int64_t bytes) { return Free(Kind::kMapped, bytes); }
    void operator()(void* p) const;

    Kind kind;
    int64_t mapped_bytes;  // kMapped: the length to unmap.

   private:
    Free(Kind k, int64_t bytes) : kind(k), mapped_bytes(bytes) {}
  };
  std::unique_ptr<void, Free> data_;
  int64_t bytes_ = 0;
};

class Tensor {
 public:
  // A zero-filled tensor; errors as CheckedByteSize and AlignedBuffer::Allocate, naming it.
  static absl::StatusOr<Tensor> Create(std::string name, ElementType type,
                                       std::vector<int64_t> shape,
                                       MemoryRegion* region = nullptr);

  const std::string& name() const { return name_; }
  ElementType type() const { return type_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t num_elements() const { return NumElements(shape_); }
  int64_t bytes() const { return num_elements() * ElementSize(type_); }

  void* data() const { return buffer_.data(); }
  float* f32() const { return static_cast<float*>(buffer_.data()); }
  int64_t* i64() const { return static_cast<int64_t*>(buffer_.data()); }

 private:
  Tensor(std::string name, ElementType type, std::vector<int64_t> shape, AlignedBuffer buffer)
      : name_(std::move(name)), type_(type), shape_(std::move(shape)), buffer_(std::move(buffer)) {}

  std::string name_;
  ElementType type_;
  std::vector<int64_t> shape_;
  AlignedBuffer buffer_;
};

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_TENSOR_H_
