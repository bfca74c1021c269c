// Little-endian fields in a byte string: what checkpoints and model bundles are written in.
//
//   Encoder out;  out.U32(7);  out.Str("fc1.weight");
//   Decoder in(out.out(), 0, out.out().size());  uint32_t n = in.U32();  ...  if (!in.ok()) ...
#ifndef KILN_RUNTIME_BYTE_CODEC_H_
#define KILN_RUNTIME_BYTE_CODEC_H_

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kiln::runtime {

class Encoder {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v) { Little(v, 4); }
  void U64(uint64_t v) { Little(v, 8); }
  void I64(int64_t v) { U64(static_cast<uint64_t>(v)); }
  void F64(double v) { U64(std::bit_cast<uint64_t>(v)); }
  void Bytes(const void* data, size_t size) { out_.append(static_cast<const char*>(data), size); }
  void Str(const std::string& s) {
    U32(static_cast<uint32_t>(s.size()));
    Bytes(s.data(), s.size());
  }
  std::string& out() { return out_; }

 private:
  void Little(uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  std::string out_;
};

// Reads fields from a buffer whose checksum has already been verified. Running out of bytes
// there means the writer and reader disagree: ok() turns false and every later read gives zero
// or "", so the caller checks once, at the end, and reports a malformed file.
class Decoder {
 public:
  Decoder(std::string_view data, size_t begin, size_t end)
      : data_(data), pos_(begin), end_(end) {}

  bool ok() const { return ok_; }
  bool at_end() const { return pos_ == end_; }
  size_t remaining() const { return ok_ ? end_ - pos_ : 0; }

  uint8_t U8() { return static_cast<uint8_t>(Little(1)); }
  uint32_t U32() { return static_cast<uint32_t>(Little(4)); }
  uint64_t U64() { return Little(8); }
  int64_t I64() { return static_cast<int64_t>(U64()); }
  double F64() { return std::bit_cast<double>(U64()); }
  std::string Bytes(uint64_t size) {
    if (!Take(size)) return "";
    return std::string(data_.substr(pos_ - size, size));
  }
  std::string Str() { return Bytes(U32()); }

 private:
  bool Take(uint64_t size) {
    if (!ok_ || size > end_ - pos_) {
      ok_ = false;
      return false;
    }
    pos_ += size;
    return true;
  }
  uint64_t Little(int bytes) {
    if (!Take(bytes)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) {
      v |= static_cast<uint64_t>(static_cast<uint8_t>(data_[pos_ - bytes + i])) << (8 * i);
    }
    return v;
  }

  std::string_view data_;
  size_t pos_;
  size_t end_;
  bool ok_ = true;
};

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_BYTE_CODEC_H_
