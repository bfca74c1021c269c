#include "runtime/idx_reader.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
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

}  // namespace

absl::StatusOr<IdxArray> ReadIdx(const std::string& path, uint32_t expected_magic,
                                 const std::string& what) {
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
    payload *= dim;
    if (payload > kMaxPayloadBytes) {
      return FileError(path, "corrupt header: dimensions claim more than 16 GiB of data");
    }
  }
  array.data.resize(payload);
  KILN_ASSIGN_OR_RETURN(int64_t got, ReadFully(file.get(), path, array.data.data(), payload));
  if (got < payload) {
    return FileError(
        path, absl::StrFormat("truncated: expected %d bytes of %s, got %d", payload, what, got));
  }
  return array;
}

}  // namespace kiln::runtime
