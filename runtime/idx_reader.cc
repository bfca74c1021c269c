#include "runtime/idx_reader.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "support/file_io.h"
#include "support/status.h"

namespace kiln::runtime {
namespace {

// No IDX file kiln reads comes near this; a header claiming more is corrupt, and refusing it
// avoids a multi-gigabyte allocation before the truncation is noticed.
constexpr int64_t kMaxPayloadBytes = int64_t{1} << 34;

struct GzCloser {
  void operator()(gzFile file) const { gzclose(file); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

absl::Status FileError(const std::string& path, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrFormat("%s: %s", path, message));
}

// Reads up to `size` bytes; returns how many were read, or an error for corrupt gzip data.
// gzread reads raw files unchanged, so one path serves both.
absl::StatusOr<int64_t> ReadFully(gzFile file, const std::string& path, uint8_t* out,
                                  int64_t size) {
  int64_t done = 0;
  while (done < size) {
    const unsigned request =
        static_cast<unsigned>(std::min<int64_t>(size - done, int64_t{1} << 30));
    const int got = gzread(file, out + done, request);
    if (got < 0) {
      int code = Z_OK;
      const char* message = gzerror(file, &code);
      return FileError(path, absl::StrFormat("corrupt gzip data: %s", message));
    }
    if (got == 0) break;
    done += got;
  }
  // A gzip stream cut short reads as end of file with Z_BUF_ERROR set: report it as truncation
  // of the payload, which is what the caller's byte count will say.
  return done;
}

uint32_t BigEndian32(const uint8_t* bytes) {
  return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) |
         uint32_t{bytes[3]};
}

absl::StatusOr<std::vector<int64_t>> ReadHeader(gzFile file, const std::string& path,
                                                uint32_t expected_magic) {
  uint8_t magic_bytes[4];
  KILN_ASSIGN_OR_RETURN(int64_t got, ReadFully(file, path, magic_bytes, 4));
  if (got < 4) {
    return FileError(path,
                     absl::StrFormat("truncated: expected a 4-byte magic number, got %d", got));
  }
  const uint32_t magic = BigEndian32(magic_bytes);
  if (magic != expected_magic) {
    return FileError(path, absl::StrFormat("not an IDX file of %d-dimensional unsigned bytes: "
                                           "magic number 0x%08x, expected 0x%08x",
                                           expected_magic & 0xff, magic, expected_magic));
  }
  const int rank = static_cast<int>(magic & 0xff);
  std::vector<uint8_t> dim_bytes(4 * rank);
  KILN_ASSIGN_OR_RETURN(got, ReadFully(file, path, dim_bytes.data(), 4 * rank));
  if (got < 4 * rank) {
    return FileError(
        path, absl::StrFormat("truncated: expected %d bytes of dimensions, got %d", 4 * rank, got));
  }
  std::vector<int64_t> dims(rank);
  for (int i = 0; i < rank; ++i) dims[i] = BigEndian32(&dim_bytes[4 * i]);
  return dims;
}

// Reads `payload` bytes of data in pieces that grow with what has arrived (each at most the
// size read so far), so a header that claims far more than the file holds costs at most twice
// the bytes really there, not the claim. gzip data cannot be sized before it is inflated.
absl::StatusOr<std::vector<uint8_t>> ReadPayload(gzFile file, const std::string& path,
                                                 int64_t payload, const std::string& what) {
  constexpr int64_t kFirstPiece = int64_t{1} << 20;
  std::vector<uint8_t> data;
  while (static_cast<int64_t>(data.size()) < payload) {
    const int64_t have = static_cast<int64_t>(data.size());
    const int64_t piece = std::min(payload - have, std::max(have, kFirstPiece));
    data.resize(have + piece);
    KILN_ASSIGN_OR_RETURN(int64_t got, ReadFully(file, path, data.data() + have, piece));
    if (got < piece) {
      return FileError(path, absl::StrFormat("truncated: expected %d bytes of %s, got %d",
                                             payload, what, have + got));
    }
  }
  return data;
}

}  // namespace

absl::StatusOr<IdxArray> ReadIdx(const std::string& path, uint32_t expected_magic,
                                 const std::string& what) {
  // Refuses devices, directories and FIFOs (gzread of /dev/zero never ends) and learns the size.
  KILN_ASSIGN_OR_RETURN(ReadableFile probe, ReadableFile::Open(path));
  errno = 0;
  GzFile file(gzopen(path.c_str(), "rb"));
  if (file == nullptr) {
    return FileError(path, absl::StrFormat("cannot open: %s",
                                           errno != 0 ? std::strerror(errno) : "out of memory"));
  }
  gzbuffer(file.get(), 1 << 17);

  IdxArray array;
  KILN_ASSIGN_OR_RETURN(array.dims, ReadHeader(file.get(), path, expected_magic));
  int64_t payload = 1;
  for (int64_t dim : array.dims) {
    // Checked before multiplying: two 32-bit dimensions can overflow 64 bits.
    if (dim != 0 && payload > kMaxPayloadBytes / dim) {
      return FileError(path, "corrupt header: dimensions claim more than 16 GiB of data");
    }
    payload *= dim;
  }
  // A raw file's payload is the rest of the file: check the claim before reading any of it.
  const int64_t header_bytes = 4 + 4 * static_cast<int64_t>(array.dims.size());
  if (gzdirect(file.get()) && probe.size() - header_bytes < payload) {
    const int64_t held = std::max<int64_t>(probe.size() - header_bytes, 0);
    return FileError(path, absl::StrFormat("truncated: expected %d bytes of %s, got %d", payload,
                                           what, held));
  }
  KILN_ASSIGN_OR_RETURN(array.data, ReadPayload(file.get(), path, payload, what));
  return array;
}

}  // namespace kiln::runtime
