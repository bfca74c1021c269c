// The event file writer against the format: CRC-32C test vectors, and files read back by an
// independent reader (tests/runtime/tfevents_reader.h) that also catches a corrupted byte.
#include "runtime/tensorboard.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/crc32c.h"
#include "tests/runtime/tfevents_reader.h"

namespace kiln::runtime {
namespace {

namespace fs = std::filesystem;
using ::kiln::testing::ReadEvent;
using ::kiln::testing::ReadEventFile;

std::string Slurp(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream bytes;
  bytes << file.rdbuf();
  return bytes.str();
}

class TensorBoardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           absl::StrCat("kiln_tensorboard_test_", ::getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST(Crc32cTest, MatchesPublishedVectors) {
  EXPECT_EQ(Crc32c(""), 0u);
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  // RFC 3720 (iSCSI), B.4: 32 bytes of zeros and 32 bytes of 0xFF.
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::string(32, '\xFF')), 0x62A8AB43u);
  EXPECT_EQ(Crc32c("123456789"), ::kiln::testing::BitwiseCrc32c("123456789"));
}

TEST(Crc32cTest, MaskIsTfRecords) {
  const uint32_t crc = 0xE3069283u;
  EXPECT_EQ(MaskedCrc32c("123456789"), ((crc >> 15) | (crc << 17)) + 0xa282ead8u);
}

TEST_F(TensorBoardTest, FileReadsBackWithHeaderTagsStepsAndValues) {
  auto writer = EventFileWriter::Create(dir_.string(), /*wall_time=*/1700000000.5);
  ASSERT_TRUE(writer.ok()) << writer.status();
  const std::string name = fs::path((*writer)->path()).filename().string();
  EXPECT_EQ(name.rfind("events.out.tfevents.1700000000.", 0), 0u) << name;
  EXPECT_TRUE(name.ends_with(absl::StrCat(".", ::getpid()))) << name;
  ASSERT_TRUE((*writer)->WriteScalar("epoch/train_loss", 1, 0.4921f, 1700000001.25).ok());
  ASSERT_TRUE((*writer)->WriteScalar("step/train_loss", 300, -2.5f, 1700000002.0).ok());
  // Steps past 2^31 and a tag longer than 127 bytes take multi-byte varints.
  const std::string long_tag(200, 't');
  ASSERT_TRUE((*writer)->WriteScalar(long_tag, int64_t{1} << 40, 3e-3f, 1700000003.0).ok());
  ASSERT_TRUE((*writer)->Flush().ok());

  std::string error;
  auto events = ReadEventFile(Slurp((*writer)->path()), &error);
  ASSERT_TRUE(events.has_value()) << error;
  ASSERT_EQ(events->size(), 4u);
  EXPECT_EQ((*events)[0].file_version, "brain.Event:2");
  EXPECT_EQ((*events)[0].wall_time, 1700000000.5);
  EXPECT_FALSE((*events)[0].has_scalar);

  const ReadEvent& epoch = (*events)[1];
  EXPECT_TRUE(epoch.has_scalar);
  EXPECT_EQ(epoch.tag, "epoch/train_loss");
  EXPECT_EQ(epoch.step, 1);
  EXPECT_EQ(epoch.value, 0.4921f);
  EXPECT_EQ(epoch.wall_time, 1700000001.25);
  EXPECT_EQ((*events)[2].tag, "step/train_loss");
  EXPECT_EQ((*events)[2].step, 300);
  EXPECT_EQ((*events)[2].value, -2.5f);
  EXPECT_EQ((*events)[3].tag, long_tag);
  EXPECT_EQ((*events)[3].step, int64_t{1} << 40);
  EXPECT_EQ((*events)[3].value, 3e-3f);
}

TEST_F(TensorBoardTest, ReaderCatchesACorruptedByte) {
  auto writer = EventFileWriter::Create(dir_.string());
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->WriteScalar("epoch/test_loss", 2, 0.25f).ok());
  ASSERT_TRUE((*writer)->Flush().ok());
  const std::string file = Slurp((*writer)->path());
  std::string error;
  ASSERT_TRUE(ReadEventFile(file, &error).has_value()) << error;
  // Every byte matters: the frame header's length, either CRC, or the event's bytes.
  for (size_t at = 0; at < file.size(); ++at) {
    std::string corrupt = file;
    corrupt[at] = static_cast<char>(corrupt[at] ^ 0x10);
    EXPECT_FALSE(ReadEventFile(corrupt, &error).has_value()) << "byte " << at;
  }
  EXPECT_FALSE(ReadEventFile(file.substr(0, file.size() - 1), &error).has_value());
}

TEST_F(TensorBoardTest, TwoWritersInOneSecondGetTwoFiles) {
  auto first = EventFileWriter::Create(dir_.string(), 1700000000.0);
  auto second = EventFileWriter::Create(dir_.string(), 1700000000.0);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_NE((*first)->path(), (*second)->path());
  ASSERT_TRUE((*first)->WriteScalar("a", 1, 1.0f).ok());
  ASSERT_TRUE((*first)->Flush().ok());
  std::string error;
  auto events = ReadEventFile(Slurp((*first)->path()), &error);
  ASSERT_TRUE(events.has_value()) << error;
  EXPECT_EQ(events->size(), 2u);  // The second writer did not touch the first's file.
}

TEST_F(TensorBoardTest, UncreatableDirectoryIsAnError) {
  std::ofstream(dir_.string()) << "a file, not a directory";
  auto writer = EventFileWriter::Create((dir_ / "sub").string());
  EXPECT_FALSE(writer.ok());
  EXPECT_NE(writer.status().message().find("cannot create"), std::string::npos) << writer.status();
}

}  // namespace
}  // namespace kiln::runtime
