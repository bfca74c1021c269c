// Fuzzes the compiled-model (graph protobuf) loader: header, checksum, the protobuf payload, the
// conversion to ir::Graph and TrainConfig, and the verifier. The header's size and CRC are fixed
// up here when the input is long enough, so the fuzzer reaches the protobuf decoder and the
// conversions instead of stopping at the checksum.
#include <zlib.h>

#include <cstdint>
#include <cstring>

#include "fuzz_input.h"
#include "ir/serialize.h"
#include "ir/verifier.h"

namespace {

// "KILNMODL", payload size (u64 LE), payload CRC-32 (u32 LE), payload: see ir/serialize.h.
constexpr size_t kHeaderBytes = 8 + 8 + 4;

std::string WithValidHeader(std::string bytes) {
  if (bytes.size() < kHeaderBytes || bytes[0] != 'K') return bytes;  // Leave some inputs raw.
  std::memcpy(bytes.data(), "KILNMODL", 8);
  const uint64_t size = bytes.size() - kHeaderBytes;
  const uint32_t crc = static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(bytes.data() + kHeaderBytes), size));
  for (int i = 0; i < 8; ++i) bytes[8 + i] = static_cast<char>((size >> (8 * i)) & 0xff);
  for (int i = 0; i < 4; ++i) bytes[16 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto model = kiln::ir::DecodeModelFile(WithValidHeader(kiln::fuzz::AsString(data, size)));
  if (!model.ok()) return 0;
  auto graph = kiln::ir::GraphFromProto(model->graph());
  if (graph.ok()) (void)kiln::ir::VerifyGraph(*graph);
  (void)kiln::ir::TrainConfigFromProto(model->train_config());
  return 0;
}
