// Fuzzes the checkpoint and weights reader (runtime/checkpoint.h) on a file of the fuzzer's bytes.
// The reader checks two CRC-32s, which random bytes never pass: inputs starting with 'K' get the
// magic, this kiln's version, their true size and both checksums written here, so the fuzzer
// reaches the field decoder; other inputs exercise the checks themselves.
#include <zlib.h>

#include <cstdint>
#include <cstring>

#include "fuzz_input.h"
#include "runtime/checkpoint.h"

namespace {

// Magic (8), version (u32), file size (u64), preamble CRC (u32), body, CRC of all before it.
constexpr size_t kPreambleBytes = 8 + 4 + 8;
constexpr size_t kMinBytes = kPreambleBytes + 4 + 4;

void PutLittle(std::string& bytes, size_t at, uint64_t value, int width) {
  for (int i = 0; i < width; ++i) bytes[at + i] = static_cast<char>((value >> (8 * i)) & 0xff);
}

uint32_t Crc(const std::string& bytes, size_t size) {
  return static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), size));
}

std::string WithValidFraming(std::string bytes) {
  if (bytes.size() < kMinBytes || bytes[0] != 'K') return bytes;
  std::memcpy(bytes.data(), kiln::runtime::kCheckpointMagic, 8);
  PutLittle(bytes, 8, kiln::runtime::kCheckpointVersion, 4);
  PutLittle(bytes, 12, bytes.size(), 8);
  PutLittle(bytes, kPreambleBytes, Crc(bytes, kPreambleBytes), 4);
  PutLittle(bytes, bytes.size() - 4, Crc(bytes, bytes.size() - 4), 4);
  return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes = WithValidFraming(kiln::fuzz::AsString(data, size));
  std::string path = kiln::fuzz::WriteInputFile(
      reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "kckpt");
  (void)kiln::runtime::ReadCheckpoint(path);
  return 0;
}
