// Writes small IDX files (gzip or raw) for the runtime's reader and data set tests.
#ifndef KILN_TESTS_RUNTIME_IDX_TEST_UTIL_H_
#define KILN_TESTS_RUNTIME_IDX_TEST_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::runtime::testing {

// The bytes of an IDX file: big-endian magic, dims, then payload.
std::string IdxBytes(uint32_t magic, const std::vector<uint32_t>& dims,
                     const std::vector<uint8_t>& payload);

// Writes `bytes` to `path`, gzip-compressed when `gzip` is set.
void WriteFile(const std::string& path, const std::string& bytes, bool gzip);

// A fresh empty directory under the test's temp dir.
std::string MakeTempDir(const std::string& name);

}  // namespace kiln::runtime::testing

#endif  // KILN_TESTS_RUNTIME_IDX_TEST_UTIL_H_
