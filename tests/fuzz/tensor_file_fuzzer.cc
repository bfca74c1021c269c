// Fuzzes the tensor-file decoder (the `tensors` data source's features and labels). Its trailing
// CRC-32 stops random bytes, so inputs starting with 'K' get the magic and a valid CRC here and
// reach the header and shape checks behind it.
#include <zlib.h>

#include <cstdint>
#include <cstring>

#include "fuzz_input.h"
#include "runtime/tensor_file.h"

namespace {

std::string WithValidFraming(std::string bytes) {
  constexpr size_t kMagicSize = 8;
  if (bytes.size() < kMagicSize + 4 || bytes[0] != 'K') return bytes;
  std::memcpy(bytes.data(), kiln::runtime::kTensorFileMagic, kMagicSize);
  const size_t body = bytes.size() - 4;
  const uint32_t crc =
      static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), body));
  for (int i = 0; i < 4; ++i) bytes[body + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)kiln::runtime::DecodeTensorFile(WithValidFraming(kiln::fuzz::AsString(data, size)),
                                        "fuzz.tensor");
  return 0;
}
