// Reads IDX files, the format of MNIST and Fashion-MNIST, gzip-compressed or raw. Every failure
// is a one-line error naming the file and what is wrong with it:
//
//   "data/train-images-idx3-ubyte.gz: truncated: expected 47040000 bytes of pixels, got 1000"
#ifndef KILN_RUNTIME_IDX_READER_H_
#define KILN_RUNTIME_IDX_READER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::runtime {

// The IDX magic numbers kiln reads: unsigned bytes in 3 dimensions (images [N, rows, cols])
// and in 1 dimension (labels [N]).
inline constexpr uint32_t kIdxImagesMagic = 0x00000803;
inline constexpr uint32_t kIdxLabelsMagic = 0x00000801;

struct IdxArray {
  std::vector<int64_t> dims;  // dims[0] is the sample count.
  std::vector<uint8_t> data;  // Row-major, product(dims) bytes.
};

// Reads an IDX file of unsigned bytes whose magic must be `expected_magic`. `what` names the
// payload in messages ("pixels", "labels").
absl::StatusOr<IdxArray> ReadIdx(const std::string& path, uint32_t expected_magic,
                                 const std::string& what);

inline absl::StatusOr<IdxArray> ReadIdxImages(const std::string& path) {
  return ReadIdx(path, kIdxImagesMagic, "pixels");
}
inline absl::StatusOr<IdxArray> ReadIdxLabels(const std::string& path) {
  return ReadIdx(path, kIdxLabelsMagic, "labels");
}

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_IDX_READER_H_
