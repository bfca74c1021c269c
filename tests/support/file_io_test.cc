#include "support/file_io.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

class FileIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "kiln_file_io_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  void Write(const std::string& name, const std::string& contents) const {
    std::ofstream(dir_ / name, std::ios::binary) << contents;
  }
  std::set<std::string> Files() const {
    std::set<std::string> names;
    for (const fs::directory_entry& entry : fs::directory_iterator(dir_)) {
      names.insert(entry.path().filename().string());
    }
    return names;
  }

  fs::path dir_;
};

TEST_F(FileIoTest, ReadsARegularFileWhole) {
  Write("a.txt", std::string("x\0y", 3));
  absl::StatusOr<std::string> text = ReadWholeFile(Path("a.txt"));
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, std::string("x\0y", 3));
}

TEST_F(FileIoTest, MissingFileIsNotFound) {
  absl::StatusOr<std::string> text = ReadWholeFile(Path("absent"));
  EXPECT_EQ(text.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(text.status().message(), Path("absent") + ": cannot open: No such file or directory");
}

// /dev/zero never ends and a FIFO without a writer blocks the open: both would hang or exhaust
// memory if read like a file.
TEST_F(FileIoTest, DevicesDirectoriesAndFifosAreRefused) {
  EXPECT_EQ(ReadWholeFile("/dev/zero").status().message(),
            "/dev/zero: not a regular file (a character device)");
  EXPECT_EQ(ReadWholeFile(dir_.string()).status().message(),
            dir_.string() + ": not a regular file (a directory)");
  ASSERT_EQ(mkfifo(Path("fifo").c_str(), 0600), 0);
  EXPECT_EQ(ReadWholeFile(Path("fifo")).status().message(),
            Path("fifo") + ": not a regular file (a FIFO)");
}

TEST_F(FileIoTest, ReadableFileKnowsItsSizeBeforeReading) {
  Write("b.bin", std::string(1000, 'b'));
  absl::StatusOr<ReadableFile> file = ReadableFile::Open(Path("b.bin"));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->size(), 1000);
  char head[10];
  absl::StatusOr<int64_t> got = file->Read(head, sizeof(head));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 10);
}

TEST_F(FileIoTest, WriteReplacesTheFileAndLeavesNoTemporary) {
  Write("m.json", "old");
  ASSERT_TRUE(WriteFileAtomically(Path("m.json"), "new").ok());
  EXPECT_EQ(*ReadWholeFile(Path("m.json")), "new");
  EXPECT_EQ(Files(), std::set<std::string>{"m.json"});
}

// A killed run leaves `<target>.tmp.XXXXXX`; the next write of that target removes the ones last
// written before this process started, and nothing else: not a temporary file being written now,
// not another target's, not the target itself.
TEST_F(FileIoTest, WriteRemovesStaleTemporaryFilesOfItsTargetOnly) {
  Write("m.json.tmp.AbC123", std::string(2 << 20, 'x'));
  Write("m.json.tmp.live01", "being written");
  Write("other.json.tmp.Zz9999", "another target's");
  const auto an_hour_ago = fs::file_time_type::clock::now() - std::chrono::hours(1);
  fs::last_write_time(dir_ / "m.json.tmp.AbC123", an_hour_ago);
  fs::last_write_time(dir_ / "other.json.tmp.Zz9999", an_hour_ago);

  ASSERT_TRUE(WriteFileAtomically(Path("m.json"), "{}").ok());
  EXPECT_EQ(Files(),
            (std::set<std::string>{"m.json", "m.json.tmp.live01", "other.json.tmp.Zz9999"}));
}

TEST_F(FileIoTest, WriteIntoAMissingDirectoryIsOneLine) {
  absl::Status status = WriteFileAtomically(Path("no/such/dir/m.json"), "{}");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message().find('\n'), std::string::npos) << status;
  EXPECT_NE(status.message().find("No such file or directory"), std::string::npos) << status;
}

}  // namespace
}  // namespace kiln
