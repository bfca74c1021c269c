#include "runtime/tensorboard.h"

#include <unistd.h>

#include <bit>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/crc32c.h"

namespace kiln::runtime {
namespace {

// The few Protocol Buffers wire-format fields an Event needs, encoded by hand: the runtime links
// no generated code (kiln_ir's protos would pull the compiler's library into AOT binaries), and
// TensorFlow's event.proto and summary.proto are far larger than the five fields used here:
//   Event          wall_time = 1 (double), step = 2 (int64), file_version = 3 (string),
//                  summary = 5 (Summary)
//   Summary        value = 1 (repeated Summary.Value)
//   Summary.Value  tag = 1 (string), simple_value = 2 (float)
// A field is a key varint (field number << 3 | wire type) followed by its value.
enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

void AppendVarint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void AppendKey(std::string& out, uint32_t field, WireType type) {
  AppendVarint(out, (uint64_t{field} << 3) | type);
}

template <typename T>
void AppendLittleEndian(std::string& out, T value) {
  static_assert(std::endian::native == std::endian::little, "kiln targets little-endian hosts");
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

void AppendBytesField(std::string& out, uint32_t field, std::string_view bytes) {
  AppendKey(out, field, kLengthDelimited);
  AppendVarint(out, bytes.size());
  out.append(bytes);
}

// An Event with wall_time and step; the caller appends its payload field.
std::string EventHead(double wall_time, int64_t step) {
  std::string event;
  AppendKey(event, 1, kFixed64);
  AppendLittleEndian(event, wall_time);
  AppendKey(event, 2, kVarint);
  AppendVarint(event, static_cast<uint64_t>(step));  // Negative int64s are 10-byte varints.
  return event;
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

}  // namespace

double WallTimeNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

absl::StatusOr<std::unique_ptr<EventFileWriter>> EventFileWriter::Create(const std::string& dir,
                                                                         double wall_time) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s: cannot create the TensorBoard directory: %s", dir, error.message()));
  }
  const std::string base =
      (std::filesystem::path(dir) / absl::StrFormat("events.out.tfevents.%d.%s.%d",
                                                    static_cast<int64_t>(wall_time), HostName(),
                                                    static_cast<int>(getpid())))
          .string();
  // "x": never append to or replace another run's file.
  for (int suffix = 0; suffix < 100; ++suffix) {
    std::string path = suffix == 0 ? base : absl::StrCat(base, ".", suffix);
    std::FILE* file = std::fopen(path.c_str(), "wbx");
    if (file == nullptr && errno == EEXIST) continue;
    if (file == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrFormat("%s: cannot create: %s", path, std::strerror(errno)));
    }
    std::unique_ptr<EventFileWriter> writer(new EventFileWriter(std::move(path), file));
    std::string event = EventHead(wall_time, 0);
    AppendBytesField(event, 3, kEventFileVersion);
    if (absl::Status status = writer->WriteRecord(event); !status.ok()) return status;
    if (absl::Status status = writer->Flush(); !status.ok()) return status;
    return writer;
  }
  return absl::AlreadyExistsError(absl::StrFormat("%s: exists (and 99 suffixed names)", base));
}

EventFileWriter::~EventFileWriter() { std::fclose(file_); }

absl::Status EventFileWriter::WriteScalar(std::string_view tag, int64_t step, float value,
                                          double wall_time) {
  std::string summary_value;
  AppendBytesField(summary_value, 1, tag);
  AppendKey(summary_value, 2, kFixed32);
  AppendLittleEndian(summary_value, value);
  std::string summary;
  AppendBytesField(summary, 1, summary_value);
  std::string event = EventHead(wall_time, step);
  AppendBytesField(event, 5, summary);
  return WriteRecord(event);
}

absl::Status EventFileWriter::WriteRecord(std::string_view data) {
  std::string record;
  std::string length;
  AppendLittleEndian(length, static_cast<uint64_t>(data.size()));
  record.append(length);
  AppendLittleEndian(record, MaskedCrc32c(length));
  record.append(data);
  AppendLittleEndian(record, MaskedCrc32c(data));
  if (std::fwrite(record.data(), 1, record.size(), file_) != record.size()) {
    return absl::DataLossError(
        absl::StrFormat("%s: cannot write: %s", path_, std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status EventFileWriter::Flush() {
  if (std::fflush(file_) != 0) {
    return absl::DataLossError(
        absl::StrFormat("%s: cannot write: %s", path_, std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace kiln::runtime
