#include <cstdint>

#include "gtest/gtest.h"
#include "runtime/tensor.h"

namespace kiln::runtime {
namespace {

TEST(AlignedBufferTest, ZeroFilledAtAnySize) {
  for (int64_t bytes : {int64_t{0}, int64_t{100}, int64_t{3} << 20}) {
    absl::StatusOr<AlignedBuffer> buffer = AlignedBuffer::Allocate(bytes);
    ASSERT_TRUE(buffer.ok()) << buffer.status();
    ASSERT_NE(buffer->data(), nullptr);
    const auto* p = static_cast<const unsigned char*>(buffer->data());
    for (int64_t i = 0; i < bytes; i += 4093) ASSERT_EQ(p[i], 0) << "byte " << i << " of " << bytes;
  }
}

}  // namespace
}  // namespace kiln::runtime
