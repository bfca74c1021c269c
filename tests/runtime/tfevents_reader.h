// A reader of TensorBoard event files for tests, written apart from runtime/tensorboard.cc so
// it checks the writer against the format rather than against itself: its own bitwise CRC-32C,
// its own TFRecord parser (both CRCs verified) and its own protobuf wire-format decoder, which
// skips fields it does not know as any protobuf parser must.
#ifndef KILN_TESTS_RUNTIME_TFEVENTS_READER_H_
#define KILN_TESTS_RUNTIME_TFEVENTS_READER_H_

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::testing {

struct ReadEvent {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;  // Set on the header event.
  std::string tag;           // Set on scalar events (one value per summary here).
  float value = 0;
  bool has_scalar = false;
};

// Bit by bit, straight from the definition (reflected Castagnoli polynomial).
inline uint32_t BitwiseCrc32c(std::string_view data) {
  uint32_t crc = ~0u;
  for (unsigned char byte : data) {
    crc ^= byte;
    for (int i = 0; i < 8; ++i) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return ~crc;
}

inline uint32_t Masked(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

inline uint64_t LoadLe(std::string_view bytes, size_t at, int size) {
  uint64_t value = 0;
  for (int i = size - 1; i >= 0; --i)
    value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
  return value;
}

// A cursor over protobuf wire-format bytes; any malformed input sets `bad`.
struct WireCursor {
  std::string_view bytes;
  size_t at = 0;
  bool bad = false;

  bool Done() const { return bad || at >= bytes.size(); }
  uint64_t Varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (at >= bytes.size()) break;
      const auto byte = static_cast<unsigned char>(bytes[at++]);
      value |= uint64_t{byte & 0x7Fu} << shift;
      if ((byte & 0x80) == 0) return value;
    }
    bad = true;
    return 0;
  }
  std::string_view Take(uint64_t n) {
    if (n > bytes.size() - at) {
      bad = true;
      return {};
    }
    std::string_view out = bytes.substr(at, n);
    at += n;
    return out;
  }
  // Reads a field's value of wire type `type` and returns its bytes (varints: empty, value in
  // `varint`).
  std::string_view Value(uint32_t type, uint64_t& varint) {
    switch (type) {
      case 0:
        varint = Varint();
        return {};
      case 1:
        return Take(8);
      case 2:
        return Take(Varint());
      case 5:
        return Take(4);
      default:
        bad = true;
        return {};
    }
  }
};

inline bool DecodeSummaryValue(std::string_view bytes, ReadEvent& event) {
  WireCursor in{bytes};
  while (!in.Done()) {
    const uint64_t key = in.Varint();
    uint64_t varint = 0;
    std::string_view value = in.Value(key & 7, varint);
    if (in.bad) return false;
    if (key == ((1 << 3) | 2)) event.tag = std::string(value);
    if (key == ((2 << 3) | 5)) {
      const uint32_t bits = static_cast<uint32_t>(LoadLe(value, 0, 4));
      std::memcpy(&event.value, &bits, 4);
      event.has_scalar = true;
    }
  }
  return !in.bad;
}

inline bool DecodeEvent(std::string_view bytes, ReadEvent& event) {
  WireCursor in{bytes};
  while (!in.Done()) {
    const uint64_t key = in.Varint();
    uint64_t varint = 0;
    std::string_view value = in.Value(key & 7, varint);
    if (in.bad) return false;
    if (key == ((1 << 3) | 1)) {
      const uint64_t bits = LoadLe(value, 0, 8);
      std::memcpy(&event.wall_time, &bits, 8);
    }
    if (key == ((2 << 3) | 0)) event.step = static_cast<int64_t>(varint);
    if (key == ((3 << 3) | 2)) event.file_version = std::string(value);
    if (key == ((5 << 3) | 2)) {  // Summary: its value = 1 entries.
      WireCursor summary{value};
      while (!summary.Done()) {
        const uint64_t summary_key = summary.Varint();
        std::string_view entry = summary.Value(summary_key & 7, varint);
        if (summary.bad) return false;
        if (summary_key == ((1 << 3) | 2) && !DecodeSummaryValue(entry, event)) return false;
      }
      if (summary.bad) return false;
    }
  }
  return !in.bad;
}

// The events of a whole file, or nullopt (and `error` says why) when a frame's length, a CRC
// or an event's encoding is wrong.
inline std::optional<std::vector<ReadEvent>> ReadEventFile(std::string_view file,
                                                           std::string* error) {
  std::vector<ReadEvent> events;
  size_t at = 0;
  while (at < file.size()) {
    if (file.size() - at < 12) {
      *error = "truncated frame header at " + std::to_string(at);
      return std::nullopt;
    }
    const uint64_t length = LoadLe(file, at, 8);
    if (Masked(BitwiseCrc32c(file.substr(at, 8))) != LoadLe(file, at + 8, 4)) {
      *error = "length CRC mismatch at " + std::to_string(at);
      return std::nullopt;
    }
    at += 12;
    if (length + 4 > file.size() - at) {
      *error = "truncated record at " + std::to_string(at);
      return std::nullopt;
    }
    std::string_view data = file.substr(at, length);
    if (Masked(BitwiseCrc32c(data)) != LoadLe(file, at + length, 4)) {
      *error = "data CRC mismatch at " + std::to_string(at);
      return std::nullopt;
    }
    at += length + 4;
    ReadEvent event;
    if (!DecodeEvent(data, event)) {
      *error = "malformed event at " + std::to_string(at);
      return std::nullopt;
    }
    events.push_back(std::move(event));
  }
  return events;
}

}  // namespace kiln::testing

#endif  // KILN_TESTS_RUNTIME_TFEVENTS_READER_H_
