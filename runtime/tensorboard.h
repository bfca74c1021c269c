// Writes TensorBoard event files: scalars that `tensorboard --logdir DIR` plots.
//
//   KILN_ASSIGN_OR_RETURN(std::unique_ptr<EventFileWriter> writer, EventFileWriter::Create(dir));
//   KILN_RETURN_IF_ERROR(writer->WriteScalar("epoch/train_loss", /*step=*/1, 0.4921));
//   KILN_RETURN_IF_ERROR(writer->Flush());
//
// writes DIR/events.out.tfevents.<unix time>.<host>.<pid>: TFRecord frames (uint64 length, its
// masked CRC-32C, the bytes, their masked CRC-32C; little-endian), each holding one serialized
// tensorflow.Event. The first event carries file_version "brain.Event:2"; each scalar is an
// Event{wall_time, step, summary: Summary{value: [{tag, simple_value}]}}. TensorBoard merges all
// event files of a directory, so a resumed run adds a file of its own beside the first run's.
#ifndef KILN_RUNTIME_TENSORBOARD_H_
#define KILN_RUNTIME_TENSORBOARD_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kiln::runtime {

inline constexpr char kEventFileVersion[] = "brain.Event:2";

// Seconds since the Unix epoch, as Event.wall_time holds them.
double WallTimeNow();

class EventFileWriter {
 public:
  // Creates `dir` if needed and a new event file in it (a name no other file has: a ".1", ".2"
  // suffix when one process opens two in the same second), starting with the version event.
  static absl::StatusOr<std::unique_ptr<EventFileWriter>> Create(const std::string& dir,
                                                                 double wall_time = WallTimeNow());
  ~EventFileWriter();
  EventFileWriter(const EventFileWriter&) = delete;
  EventFileWriter& operator=(const EventFileWriter&) = delete;

  absl::Status WriteScalar(std::string_view tag, int64_t step, float value,
                           double wall_time = WallTimeNow());
  // Hands the buffered events to the OS, so a TensorBoard watching the directory sees them.
  absl::Status Flush();

  const std::string& path() const { return path_; }

 private:
  EventFileWriter(std::string path, std::FILE* file) : path_(std::move(path)), file_(file) {}
  absl::Status WriteRecord(std::string_view data);

  std::string path_;
  std::FILE* file_;
};

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_TENSORBOARD_H_
