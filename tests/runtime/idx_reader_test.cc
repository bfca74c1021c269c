#include "runtime/idx_reader.h"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/runtime/idx_test_util.h"
#include "tests/runtime/memory_limit.h"

namespace kiln::runtime {
namespace {

using testing::IdxBytes;
using testing::LimitAddressSpace;
using testing::MakeTempDir;
using testing::WriteFile;

std::vector<uint8_t> Iota(int n) {
  std::vector<uint8_t> v(n);
  for (int i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 7);
  return v;
}

class IdxReaderTest : public ::testing::Test {
 protected:
  std::string dir_ = MakeTempDir("idx");
  std::string Path(const std::string& name) { return dir_ + "/" + name; }
};

TEST_F(IdxReaderTest, ImagesRoundTripThroughGzip) {
  const std::vector<uint8_t> pixels = Iota(3 * 4 * 5);
  WriteFile(Path("images.gz"), IdxBytes(kIdxImagesMagic, {3, 4, 5}, pixels), /*gzip=*/true);
  absl::StatusOr<IdxArray> array = ReadIdxImages(Path("images.gz"));
  ASSERT_TRUE(array.ok()) << array.status();
  EXPECT_EQ(array->dims, (std::vector<int64_t>{3, 4, 5}));
  EXPECT_EQ(array->data, pixels);
}

TEST_F(IdxReaderTest, LabelsRoundTripRaw) {
  const std::vector<uint8_t> labels = {3, 1, 4, 1, 5, 9};
  WriteFile(Path("labels"), IdxBytes(kIdxLabelsMagic, {6}, labels), /*gzip=*/false);
  absl::StatusOr<IdxArray> array = ReadIdxLabels(Path("labels"));
  ASSERT_TRUE(array.ok()) << array.status();
  EXPECT_EQ(array->dims, (std::vector<int64_t>{6}));
  EXPECT_EQ(array->data, labels);
}

TEST_F(IdxReaderTest, MissingFile) {
  EXPECT_EQ(ReadIdxImages(Path("nope.gz")).status().message(),
            Path("nope.gz") + ": cannot open: No such file or directory");
}

TEST_F(IdxReaderTest, TruncatedPixels) {
  // The header promises 60000 28x28 images; the file holds 1000 bytes of pixels.
  WriteFile(Path("train-images-idx3-ubyte.gz"),
            IdxBytes(kIdxImagesMagic, {60000, 28, 28}, Iota(1000)), /*gzip=*/true);
  EXPECT_EQ(ReadIdxImages(Path("train-images-idx3-ubyte.gz")).status().message(),
            Path("train-images-idx3-ubyte.gz") +
                ": truncated: expected 47040000 bytes of pixels, got 1000");
}

TEST_F(IdxReaderTest, TruncatedGzipStream) {
  // Cut a valid gzip file in half: zlib reports a premature end, which reads as truncation.
  WriteFile(Path("full.gz"), IdxBytes(kIdxLabelsMagic, {5000}, Iota(5000)), /*gzip=*/true);
  std::FILE* in = std::fopen(Path("full.gz").c_str(), "rb");
  ASSERT_NE(in, nullptr);
  std::string compressed(100000, '\0');
  compressed.resize(std::fread(compressed.data(), 1, compressed.size(), in));
  std::fclose(in);
  WriteFile(Path("half.gz"), compressed.substr(0, compressed.size() / 2), /*gzip=*/false);
  const absl::Status status = ReadIdxLabels(Path("half.gz")).status();
  EXPECT_TRUE(absl::StartsWith(
      status.message(), Path("half.gz") + ": truncated: expected 5000 bytes of labels, got "))
      << status;
}

TEST_F(IdxReaderTest, TruncatedHeader) {
  WriteFile(Path("short"), std::string("\0\0\x08\x03\0\0", 6), /*gzip=*/false);
  EXPECT_EQ(ReadIdxImages(Path("short")).status().message(),
            Path("short") + ": truncated: expected 12 bytes of dimensions, got 2");
  WriteFile(Path("empty"), "", /*gzip=*/false);
  EXPECT_EQ(ReadIdxImages(Path("empty")).status().message(),
            Path("empty") + ": truncated: expected a 4-byte magic number, got 0");
}

TEST_F(IdxReaderTest, WrongMagic) {
  WriteFile(Path("labels.gz"), IdxBytes(kIdxLabelsMagic, {2}, {1, 2}), /*gzip=*/true);
  EXPECT_EQ(ReadIdxImages(Path("labels.gz")).status().message(),
            Path("labels.gz") +
                ": not an IDX file of 3-dimensional unsigned bytes: magic number 0x00000801, "
                "expected 0x00000803");
}

TEST_F(IdxReaderTest, CorruptGzipData) {
  // A valid gzip header followed by garbage deflate data.
  std::string bytes = "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03";
  bytes += std::string(64, '\xff');
  WriteFile(Path("corrupt.gz"), bytes, /*gzip=*/false);
  const absl::Status status = ReadIdxImages(Path("corrupt.gz")).status();
  EXPECT_TRUE(absl::StartsWith(status.message(), Path("corrupt.gz") + ": corrupt gzip data: "))
      << status;
}

TEST_F(IdxReaderTest, ImplausibleDimensions) {
  WriteFile(Path("huge"), IdxBytes(kIdxImagesMagic, {0xffffffff, 0xffff, 0xffff}, {}),
            /*gzip=*/false);
  EXPECT_EQ(ReadIdxImages(Path("huge")).status().message(),
            Path("huge") + ": corrupt header: dimensions claim more than 16 GiB of data");
}

// A 200 KB file whose header claims 20,000,000 images (15.7 GB): the claim is checked against the
// bytes really there (raw: the file size; gzip: what inflates) before it is allocated. Run with a
// 2 GiB address space, so allocating the claim kills the child instead of the test machine.
TEST_F(IdxReaderTest, HeaderClaimingMoreThanTheFileHoldsAllocatesNothingLikeIt) {
  const std::vector<uint8_t> pixels = Iota(200000);
  for (bool gzip : {false, true}) {
    const std::string path = Path(gzip ? "claim.gz" : "claim");
    WriteFile(path, IdxBytes(kIdxImagesMagic, {20000000, 28, 28}, pixels), gzip);
    EXPECT_EXIT(
        {
          LimitAddressSpace();
          std::cerr << ReadIdxImages(path).status().message();
          std::exit(0);
        },
        ::testing::ExitedWithCode(0), "truncated: expected 15680000000 bytes of pixels, got 200000")
        << (gzip ? "gzip" : "raw");
  }
}

TEST_F(IdxReaderTest, DevicesAreRefusedNotReadForever) {
  EXPECT_EQ(ReadIdxImages("/dev/zero").status().message(),
            "/dev/zero: not a regular file (a character device)");
}

TEST_F(IdxReaderTest, DimensionsWhoseProductOverflowsAreRefused) {
  // 0xffffffff^2 wraps 64 bits to a negative count; the product is checked before it is formed.
  WriteFile(Path("wrap"), IdxBytes(kIdxImagesMagic, {0xffffffff, 0xffffffff, 16}, {}),
            /*gzip=*/false);
  EXPECT_EQ(ReadIdxImages(Path("wrap")).status().message(),
            Path("wrap") + ": corrupt header: dimensions claim more than 16 GiB of data");
}

}  // namespace
}  // namespace kiln::runtime
