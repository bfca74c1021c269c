// Shared by the fuzz targets: readers that take a path get the fuzzer's bytes through a file of
// this process's own, rewritten for every input.
#ifndef KILN_TESTS_FUZZ_FUZZ_INPUT_H_
#define KILN_TESTS_FUZZ_FUZZ_INPUT_H_

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace kiln::fuzz {

// Writes `data` to /tmp/kiln-fuzz-<pid>.<suffix> and returns the path; the file is reused.
inline std::string WriteInputFile(const uint8_t* data, size_t size, const char* suffix) {
  std::string path = "/tmp/kiln-fuzz-" + std::to_string(getpid()) + "." + suffix;
  FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) __builtin_trap();  // The harness itself failed, not the code under test.
  if (size > 0 && std::fwrite(data, 1, size, file) != size) __builtin_trap();
  std::fclose(file);
  return path;
}

inline std::string AsString(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

}  // namespace kiln::fuzz

#endif  // KILN_TESTS_FUZZ_FUZZ_INPUT_H_
