// Caps a (death-test child) process's address space, so code that allocates what a hostile
// file's header claims fails at once with std::bad_alloc, killing the child, instead of paging
// the test machine to death or reading /dev/zero until memory runs out.
//
//   EXPECT_EXIT({ LimitAddressSpace(); std::cerr << ReadIdxImages(path).status().message();
//                 std::exit(0); }, ::testing::ExitedWithCode(0), "truncated");
#ifndef KILN_TESTS_RUNTIME_MEMORY_LIMIT_H_
#define KILN_TESTS_RUNTIME_MEMORY_LIMIT_H_

#include <sys/resource.h>

#include <cstdint>

#include "tests/sanitizers.h"

namespace kiln::runtime::testing {

inline constexpr uint64_t kTestAddressSpace = uint64_t{2} << 30;

// A no-op under AddressSanitizer, whose shadow memory needs more address space than any cap.
inline void LimitAddressSpace(uint64_t bytes = kTestAddressSpace) {
  if (kiln::testing::kAddressSanitizer) return;
  const rlimit limit{bytes, bytes};
  setrlimit(RLIMIT_AS, &limit);
}

}  // namespace kiln::runtime::testing

#endif  // KILN_TESTS_RUNTIME_MEMORY_LIMIT_H_
