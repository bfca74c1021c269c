#include "runtime/tensor_file.h"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/str_format.h"
#include "runtime/tensor.h"
#include "support/file_io.h"
#include "support/status.h"

namespace kiln::runtime {
namespace {

static_assert(std::endian::native == std::endian::little,
              "tensor files are little-endian; add byte swapping for this platform");

constexpr uint32_t kVersion = 1;
constexpr uint32_t kDTypeF32 = 1;
constexpr uint32_t kDTypeI64 = 2;
constexpr uint32_t kMaxRank = 8;
constexpr size_t kMagicSize = 8;
constexpr size_t kFixedHeader = 24;

template <typename T>
void Append(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

template <typename T>
T Load(const std::string& bytes, size_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

uint32_t Crc32(const char* data, size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths; feed large buffers in pieces.
  while (size > 0) {
    const uInt piece = static_cast<uInt>(std::min<size_t>(size, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data), piece);
    data += piece;
    size -= piece;
  }
  return static_cast<uint32_t>(crc);
}

absl::Status Corrupt(const std::string& path, const std::string& why) {
  return absl::DataLossError(absl::StrFormat("%s: not a valid kiln tensor file: %s", path, why));
}

}  // namespace

std::string EncodeTensorFile(const HostTensor& tensor) {
  std::string out(kTensorFileMagic, kMagicSize);
  Append<uint32_t>(out, kVersion);
  Append<uint32_t>(out, tensor.type == ElementType::kF32 ? kDTypeF32 : kDTypeI64);
  Append<uint32_t>(out, static_cast<uint32_t>(tensor.shape.size()));
  Append<uint32_t>(out, 0);
  for (int64_t dim : tensor.shape) Append<int64_t>(out, dim);
  if (tensor.type == ElementType::kF32) {
    out.append(reinterpret_cast<const char*>(tensor.f32.data()), tensor.f32.size() * sizeof(float));
  } else {
    out.append(reinterpret_cast<const char*>(tensor.i64.data()),
               tensor.i64.size() * sizeof(int64_t));
  }
  Append<uint32_t>(out, Crc32(out.data(), out.size()));
  return out;
}

absl::StatusOr<HostTensor> DecodeTensorFile(const std::string& bytes, const std::string& path) {
  if (bytes.size() < kFixedHeader + 4 || bytes.compare(0, kMagicSize, kTensorFileMagic) != 0) {
    return Corrupt(path, "bad magic (expected \"KILNTNSR\")");
  }
  const uint32_t stored_crc = Load<uint32_t>(bytes, bytes.size() - 4);
  if (stored_crc != Crc32(bytes.data(), bytes.size() - 4)) {
    return Corrupt(path, "checksum mismatch (truncated or damaged)");
  }
  if (const uint32_t version = Load<uint32_t>(bytes, 8); version != kVersion) {
    return Corrupt(path, absl::StrFormat("unsupported version %d", version));
  }
  const uint32_t dtype = Load<uint32_t>(bytes, 12);
  if (dtype != kDTypeF32 && dtype != kDTypeI64) {
    return Corrupt(path, absl::StrFormat("unknown dtype code %d", dtype));
  }
  const uint32_t rank = Load<uint32_t>(bytes, 16);
  if (rank > kMaxRank) return Corrupt(path, absl::StrFormat("rank %d exceeds %d", rank, kMaxRank));
  if (bytes.size() < kFixedHeader + 8 * rank + 4) return Corrupt(path, "header is cut short");

  HostTensor tensor;
  tensor.type = dtype == kDTypeF32 ? ElementType::kF32 : ElementType::kI64;
  uint64_t elements = 1;
  for (uint32_t i = 0; i < rank; ++i) {
    const int64_t dim = Load<int64_t>(bytes, kFixedHeader + 8 * i);
    if (dim < 0 || (dim > 0 && elements > (uint64_t{1} << 40) / static_cast<uint64_t>(dim))) {
      return Corrupt(path, absl::StrFormat("bad dimension %d", dim));
    }
    elements *= static_cast<uint64_t>(dim);
    tensor.shape.push_back(dim);
  }
  const size_t data_offset = kFixedHeader + 8 * rank;
  const size_t element_size = dtype == kDTypeF32 ? 4 : 8;
  const size_t expected = data_offset + elements * element_size + 4;
  if (bytes.size() != expected) {
    return Corrupt(path, absl::StrFormat("%d bytes, but shape and dtype need %d", bytes.size(),
                                         expected));
  }
  // An empty vector's data() may be null, which memcpy must not get even for 0 bytes.
  if (elements == 0) return tensor;
  if (tensor.type == ElementType::kF32) {
    tensor.f32.resize(elements);
    std::memcpy(tensor.f32.data(), bytes.data() + data_offset, elements * element_size);
  } else {
    tensor.i64.resize(elements);
    std::memcpy(tensor.i64.data(), bytes.data() + data_offset, elements * element_size);
  }
  return tensor;
}

absl::Status WriteTensorFile(const std::string& path, const HostTensor& tensor) {
  const int64_t elements = NumElements(tensor.shape);
  const size_t held = tensor.type == ElementType::kF32 ? tensor.f32.size() : tensor.i64.size();
  if (static_cast<size_t>(elements) != held) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: shape %s has %d elements but the tensor holds %d", path,
        TypeString(tensor.type, tensor.shape), elements, held));
  }
  const std::string bytes = EncodeTensorFile(tensor);
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) {
    return absl::UnavailableError(
        absl::StrFormat("%s: cannot write: %s", path, std::strerror(errno)));
  }
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  file.close();
  if (!file) return absl::UnavailableError(absl::StrFormat("%s: cannot write", path));
  return absl::OkStatus();
}

absl::StatusOr<HostTensor> ReadTensorFile(const std::string& path) {
  // Only regular files, read at their real size; DecodeTensorFile then checks the header's shape
  // against that size before allocating the tensor.
  KILN_ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(path));
  return DecodeTensorFile(bytes, path);
}

}  // namespace kiln::runtime
