// The alignment of every tensor buffer: the memory planner (passes/plan_memory) places arena
// buffers at multiples of it, the runtime (runtime/tensor) allocates arenas and inputs with it
// and refuses a program whose offsets break it, and generated code may assume it (64 bytes: one
// cache line, one AVX-512 vector). One definition, so the two sides cannot disagree.
#ifndef KILN_SUPPORT_BUFFER_ALIGNMENT_H_
#define KILN_SUPPORT_BUFFER_ALIGNMENT_H_

#include <cstdint>

namespace kiln {

inline constexpr int64_t kBufferAlignment = 64;
static_assert((kBufferAlignment & (kBufferAlignment - 1)) == 0, "a power of two");

}  // namespace kiln

#endif  // KILN_SUPPORT_BUFFER_ALIGNMENT_H_
