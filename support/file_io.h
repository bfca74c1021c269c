// Whole-file input and output that hostile or unlucky paths cannot turn into a hang, a crash or a
// half-written file. Readers accept only regular files and learn their size before anything is
// allocated, so a header's declared sizes can be checked against the bytes really there; the
// writer replaces a file atomically and clears the temporary files of runs that were killed.
//
//   KILN_ASSIGN_OR_RETURN(ReadableFile file, ReadableFile::Open("run.ckpt"));
//   if (declared_size != file.size()) return ...;  // Before allocating declared_size bytes.
//   KILN_ASSIGN_OR_RETURN(std::string text, ReadWholeFile("data.csv"));
//   KILN_RETURN_IF_ERROR(WriteFileAtomically("metrics.json", json));
#ifndef KILN_SUPPORT_FILE_IO_H_
#define KILN_SUPPORT_FILE_IO_H_

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kiln {

// A regular file open for reading, with its size at the time it was opened.
class ReadableFile {
 public:
  // Errors are one line naming the path: a missing file is NotFound ("run.ckpt: cannot open: No
  // such file or directory"); anything but a regular file is InvalidArgument ("/dev/zero: not a
  // regular file (a character device)"), so a device cannot feed an endless read and a FIFO
  // cannot block the open.
  static absl::StatusOr<ReadableFile> Open(const std::string& path);

  ReadableFile(ReadableFile&& other) noexcept;
  ReadableFile& operator=(ReadableFile&& other) noexcept;
  ReadableFile(const ReadableFile&) = delete;
  ReadableFile& operator=(const ReadableFile&) = delete;
  ~ReadableFile();

  const std::string& path() const { return path_; }
  int64_t size() const { return size_; }

  // Reads up to `size` bytes from the current position into `out`; returns how many were read,
  // fewer than `size` only at the end of the file.
  absl::StatusOr<int64_t> Read(char* out, int64_t size);

 private:
  ReadableFile(std::string path, int fd, int64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}

  std::string path_;
  int fd_ = -1;
  int64_t size_ = 0;
};

// The whole contents of the regular file `path` (errors as ReadableFile::Open).
absl::StatusOr<std::string> ReadWholeFile(const std::string& path);

// Writes `contents` to a temporary file beside `path` (`<path>.tmp.XXXXXX`), fsyncs it, renames
// it over `path` and fsyncs the directory: readers never see a half-written file, and after a
// crash or power loss `path` holds either the old contents or the new. On failure (ENOSPC, or
// EFBIG past `ulimit -f`, with SIGXFSZ ignored) the temporary file is removed and the error is one
// line. Temporary files of `path` left by killed runs are removed first (see the .cc for which).
absl::Status WriteFileAtomically(const std::string& path, const std::string& contents);

}  // namespace kiln

#endif  // KILN_SUPPORT_FILE_IO_H_
