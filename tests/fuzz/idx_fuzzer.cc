// Fuzzes the IDX reader (raw or gzip) for both the images and the labels magic.
#include <cstdint>

#include "fuzz_input.h"
#include "runtime/idx_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = kiln::fuzz::WriteInputFile(data, size, "idx");
  (void)kiln::runtime::ReadIdxImages(path);
  (void)kiln::runtime::ReadIdxLabels(path);
  return 0;
}
