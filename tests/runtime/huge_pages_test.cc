#include "runtime/huge_pages.h"

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/tensor.h"

namespace kiln::runtime {
namespace {

constexpr uintptr_t kHugePage = uintptr_t{2} << 20;

// The first 2 MiB boundary at or after `address`: where a huge page can start.
const void* FirstHugePageIn(const void* address) {
  return reinterpret_cast<const void*>(
      (reinterpret_cast<uintptr_t>(address) + kHugePage - 1) & ~(kHugePage - 1));
}

// Whether the mapping that holds `address` asked for huge pages: "hg" (MADV_HUGEPAGE) among the
// VmFlags of its /proc/self/smaps entry.
bool AskedForHugePages(const void* address) {
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
    if (!inside || line.rfind("VmFlags:", 0) != 0) continue;
    std::istringstream words(line);
    std::string word;
    while (words >> word) {
      if (word == "hg") return true;
    }
    return false;
  }
  return false;
}

bool KernelHasHugePages() {
  return static_cast<bool>(std::ifstream("/sys/kernel/mm/transparent_hugepage/enabled"));
}

// Large buffers (a layer's weights, an arena) ask for transparent huge pages, so that walking a
// matrix's rows does not miss the TLB at every row.
TEST(HugePagesTest, LargeAlignedBuffersAskForThem) {
  if (!KernelHasHugePages()) GTEST_SKIP() << "this kernel has no transparent huge pages";
  absl::StatusOr<AlignedBuffer> buffer = AlignedBuffer::Allocate(int64_t{8} << 20);
  ASSERT_TRUE(buffer.ok()) << buffer.status();
  EXPECT_TRUE(AskedForHugePages(FirstHugePageIn(buffer->data())));
}

// A data set's features: zeros of the requested count, on storage that asked for huge pages
// before the zeros touched it (the shuffled batches gather rows from all over it).
TEST(HugePagesTest, ResizedVectorsAreZerosThatAskedForThem) {
  std::vector<float> values;
  const size_t count = size_t{6} << 20;  // 24 MiB: several whole huge pages inside.
  ResizeOnHugePages(values, count);
  ASSERT_EQ(values.size(), count);
  for (size_t i = 0; i < count; i += 4093) ASSERT_EQ(values[i], 0.0f) << "element " << i;
  if (!KernelHasHugePages()) GTEST_SKIP() << "this kernel has no transparent huge pages";
  EXPECT_TRUE(AskedForHugePages(FirstHugePageIn(values.data())));
}

// Ranges too small to hold an aligned huge page are left alone.
TEST(HugePagesTest, SmallRangesAreAccepted) {
  std::vector<float> values(100, 1.0f);
  AdviseHugePages(values.data(), values.size() * sizeof(float));
  AdviseHugePages(values.data(), 0);
  EXPECT_EQ(values[99], 1.0f);
}

}  // namespace
}  // namespace kiln::runtime
