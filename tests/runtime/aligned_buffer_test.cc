#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "runtime/tensor.h"

namespace kiln::runtime {
namespace {

// The VmFlags line of /proc/self/smaps for the mapping that holds `address` (empty if none).
std::string VmFlagsOf(const void* address) {
  const auto target = reinterpret_cast<uintptr_t>(address);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    uintptr_t begin = 0, end = 0;
    // A mapping's header line starts "begin-end perms ...", both in hex.
    if (std::sscanf(line.c_str(), "%lx-%lx ", &begin, &end) == 2) {
      inside = begin <= target && target < end;
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0) return line;
  }
  return "";
}

TEST(AlignedBufferTest, ZeroFilledAtAnySize) {
  for (int64_t bytes : {int64_t{0}, int64_t{100}, int64_t{3} << 20}) {
    absl::StatusOr<AlignedBuffer> buffer = AlignedBuffer::Allocate(bytes);
    ASSERT_TRUE(buffer.ok()) << buffer.status();
    ASSERT_NE(buffer->data(), nullptr);
    const auto* p = static_cast<const unsigned char*>(buffer->data());
    for (int64_t i = 0; i < bytes; i += 4093) ASSERT_EQ(p[i], 0) << "byte " << i << " of " << bytes;
  }
}

// Large buffers (a layer's weights, an arena) ask for transparent huge pages, so that walking a
// matrix's rows does not miss the TLB at every row ("hg" in the mapping's flags: MADV_HUGEPAGE).
TEST(AlignedBufferTest, LargeBuffersAskForHugePages) {
  if (!std::ifstream("/sys/kernel/mm/transparent_hugepage/enabled")) {
    GTEST_SKIP() << "this kernel has no transparent huge pages";
  }
  absl::StatusOr<AlignedBuffer> buffer = AlignedBuffer::Allocate(int64_t{8} << 20);
  ASSERT_TRUE(buffer.ok()) << buffer.status();
  const std::string flags = VmFlagsOf(buffer->data());
  ASSERT_FALSE(flags.empty()) << "no mapping holds the buffer";
  std::istringstream words(flags);
  std::string word;
  bool huge = false;
  while (words >> word) huge = huge || word == "hg";
  EXPECT_TRUE(huge) << flags;
}

}  // namespace
}  // namespace kiln::runtime
