// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of TFRecord framing
// (runtime/tensorboard.h). Crc32c("123456789") == 0xE3069283.
#ifndef KILN_RUNTIME_CRC32C_H_
#define KILN_RUNTIME_CRC32C_H_

#include <cstdint>
#include <string_view>

namespace kiln::runtime {

uint32_t Crc32c(std::string_view data);

// TFRecord stores checksums masked, because a CRC over data that itself holds CRCs is weak:
// ((crc >> 15) | (crc << 17)) + 0xa282ead8.
uint32_t MaskedCrc32c(std::string_view data);

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_CRC32C_H_
