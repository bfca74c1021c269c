#include "support/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "support/status.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

// When this process started (near enough: when its static objects were built). Temporary files
// last written before then cannot belong to a write this process is doing.
const fs::file_time_type kProcessStart = fs::file_time_type::clock::now();
// File times come from the kernel's coarse clock, which lags the precise one by up to a few
// milliseconds; a file written just after this process started can carry an earlier time.
// Only files older than the start by this much count as stale.
constexpr std::chrono::seconds kStaleMargin(2);

absl::Status FileError(const std::string& path, const std::string& what, int error) {
  return absl::UnavailableError(absl::StrFormat("%s: %s: %s", path, what, std::strerror(error)));
}

const char* FileKind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a plain file";
}

// Writes all of `contents` to `fd` and flushes it to the device.
absl::Status WriteAndSync(int fd, const std::string& path, const std::string& contents) {
  size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FileError(path, "cannot write", errno);
    done += static_cast<size_t>(n);
  }
  // mkstemp creates the file 0600; give it the permissions an ordinary file gets.
  if (fchmod(fd, 0644) != 0) return FileError(path, "cannot set permissions", errno);
  if (fsync(fd) != 0) return FileError(path, "cannot sync", errno);
  return absl::OkStatus();
}

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

absl::Status SyncDirectoryOf(const std::string& path) {
  const std::string dir = DirectoryOf(path);
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return FileError(dir, "cannot open directory to sync", errno);
  const bool synced = fsync(fd) == 0;
  const int error = errno;
  close(fd);
  if (!synced) return FileError(dir, "cannot sync directory", error);
  return absl::OkStatus();
}

// Removes `<path>.tmp.*` files that a killed run left behind. The rule: a regular file of exactly
// that prefix whose last write predates this process's start (by kStaleMargin). A killed writer's file stopped
// changing when it died, which for a run this one continues or replaces was before this process
// began; a live writer's file is being written, so its time is recent and it is left alone. The
// one loser is a second, concurrent run writing the same target that stalled before this process
// started: its rename then fails and it reports the error, while `path` itself is never touched.
// Best effort: a file that cannot be examined or removed is left for the next run.
void RemoveStaleTempFiles(const std::string& path) {
  const fs::path target(path);
  const std::string prefix = target.filename().string() + ".tmp.";
  std::error_code error;
  fs::directory_iterator it(DirectoryOf(path), error);
  for (; !error && it != fs::directory_iterator(); it.increment(error)) {
    const fs::directory_entry& entry = *it;
    if (!absl::StartsWith(entry.path().filename().string(), prefix)) continue;
    std::error_code ignored;
    if (!entry.is_regular_file(ignored) || ignored) continue;
    const fs::file_time_type written = entry.last_write_time(ignored);
    if (ignored || written >= kProcessStart - kStaleMargin) continue;
    fs::remove(entry.path(), ignored);
  }
}

}  // namespace

absl::StatusOr<ReadableFile> ReadableFile::Open(const std::string& path) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
  const int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    const std::string message = absl::StrFormat("%s: cannot open: %s", path, std::strerror(error));
    if (error == ENOENT) return absl::NotFoundError(message);
    return absl::UnavailableError(message);
  }
  ReadableFile file(path, fd, 0);  // Closes fd on every early return.
  struct stat info;
  if (fstat(fd, &info) != 0) return FileError(path, "cannot read", errno);
  if (!S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: not a regular file (%s)", path, FileKind(info.st_mode)));
  }
  if (fcntl(fd, F_SETFL, 0) != 0) return FileError(path, "cannot read", errno);
  file.size_ = static_cast<int64_t>(info.st_size);
  return file;
}

ReadableFile::ReadableFile(ReadableFile&& other) noexcept
    : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)), size_(other.size_) {}

ReadableFile& ReadableFile::operator=(ReadableFile&& other) noexcept {
  if (this == &other) return *this;
  if (fd_ >= 0) close(fd_);
  path_ = std::move(other.path_);
  fd_ = std::exchange(other.fd_, -1);
  size_ = other.size_;
  return *this;
}

ReadableFile::~ReadableFile() {
  if (fd_ >= 0) close(fd_);
}

absl::StatusOr<int64_t> ReadableFile::Read(char* out, int64_t size) {
  int64_t done = 0;
  while (done < size) {
    const ssize_t n = read(fd_, out + done, static_cast<size_t>(size - done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FileError(path_, "cannot read", errno);
    if (n == 0) break;
    done += n;
  }
  return done;
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(ReadableFile file, ReadableFile::Open(path));
  std::string data(static_cast<size_t>(file.size()), '\0');
  KILN_ASSIGN_OR_RETURN(int64_t got, file.Read(data.data(), file.size()));
  // A file that shrank while being read is read as what is left.
  data.resize(static_cast<size_t>(got));
  return data;
}

absl::Status WriteFileAtomically(const std::string& path, const std::string& contents) {
  RemoveStaleTempFiles(path);
  // A unique temporary name in the same directory (rename is atomic only within a file
  // system), so concurrent writers and a stale temp file from a killed run cannot collide.
  std::string temp = path + ".tmp.XXXXXX";
  const int fd = mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) return FileError(path, "cannot create a temporary file beside it", errno);
  // Errors name `path`, the file the user asked for: the temporary file is removed below.
  absl::Status status = WriteAndSync(fd, path, contents);
  if (close(fd) != 0 && status.ok()) status = FileError(path, "cannot write", errno);
  if (status.ok() && std::rename(temp.c_str(), path.c_str()) != 0) {
    status = FileError(path, absl::StrCat("cannot replace with ", temp), errno);
  }
  if (!status.ok()) {
    unlink(temp.c_str());
    return status;
  }
  // The rename itself lives in the directory; sync it so the new name survives a power loss.
  return SyncDirectoryOf(path);
}

}  // namespace kiln
