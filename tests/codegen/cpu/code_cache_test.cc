// The persistent code cache on its own: keys that change with everything that shapes code,
// entries that survive a round trip, corrupt entries read as misses, concurrent writers that never
// leave a torn entry, and where the environment puts the cache.
#include "codegen/cpu/code_cache.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "support/version.h"

namespace kiln::cpu {
namespace {

std::string FreshDirectory(const std::string& name) {
  std::filesystem::path dir =
      std::filesystem::path(testing::TempDir()) / (name + "." + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

CodeKey SomeKey() {
  return KeyForThisCompiler("define void @f() { ret void }", "x86_64-pc-linux-gnu", "znver3",
                            "+avx2,+fma");
}

TEST(CodeKeyTest, EveryFieldChangesTheDigest) {
  const std::string digest = SomeKey().Digest();
  EXPECT_EQ(digest.size(), 64u);
  EXPECT_EQ(SomeKey().Digest(), digest);  // Stable: the same key names the same entry.
  CodeKey key = SomeKey();
  key.ir += " ";
  EXPECT_NE(key.Digest(), digest);
  key = SomeKey();
  key.cpu = "skylake";
  EXPECT_NE(key.Digest(), digest);
  key = SomeKey();
  key.features = "+avx2";
  EXPECT_NE(key.Digest(), digest);
  key = SomeKey();
  key.triple = "x86_64-unknown-linux-musl";
  EXPECT_NE(key.Digest(), digest);
  key = SomeKey();
  key.kiln_version = "0.0.0-other";
  EXPECT_NE(key.Digest(), digest);
  key = SomeKey();
  key.llvm_version = "18.1.0";
  EXPECT_NE(key.Digest(), digest);
  EXPECT_EQ(SomeKey().kiln_version, kKilnVersion);
}

TEST(CodeKeyTest, FieldBoundariesMatter) {
  CodeKey a = SomeKey();
  CodeKey b = SomeKey();
  a.cpu = "znver3";
  a.features = "+avx2";
  b.cpu = "znver3+";
  b.features = "avx2";
  EXPECT_NE(a.Digest(), b.Digest());
}

TEST(CodeCacheTest, StoredEntryLoadsBack) {
  CodeCache cache(FreshDirectory("roundtrip"));
  const std::string digest = SomeKey().Digest();
  EXPECT_FALSE(cache.Load(digest).has_value());
  ASSERT_TRUE(cache.Store(digest, std::string("object\0bytes", 12)).ok());
  std::optional<std::string> loaded = cache.Load(digest);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(*loaded, std::string("object\0bytes", 12));
  // No temporary files stay behind.
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(cache.directory())) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST(CodeCacheTest, FlippedByteReadsAsMissAndIsRewritten) {
  CodeCache cache(FreshDirectory("corrupt"));
  const std::string digest = SomeKey().Digest();
  const std::string object(1000, 'x');
  ASSERT_TRUE(cache.Store(digest, object).ok());
  const std::string path = cache.PathOf(digest);
  const auto size = std::filesystem::file_size(path);
  for (auto offset : {size - 1, size / 2, decltype(size){3}, decltype(size){10}}) {
    ASSERT_TRUE(cache.Store(digest, object).ok());
    {
      std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
      file.seekg(offset);
      char byte = 0;
      file.get(byte);
      file.seekp(offset);
      file.put(static_cast<char>(byte ^ 0x20));
    }
    EXPECT_FALSE(cache.Load(digest).has_value()) << "byte " << offset << " flipped";
  }
  std::filesystem::resize_file(path, size - 7);
  EXPECT_FALSE(cache.Load(digest).has_value()) << "truncated";
  std::filesystem::resize_file(path, 5);
  EXPECT_FALSE(cache.Load(digest).has_value()) << "shorter than a header";
  ASSERT_TRUE(cache.Store(digest, object).ok());
  EXPECT_EQ(cache.Load(digest), object);
}

// Four processes store the same entry over and over (with payloads of different sizes, so a mix
// of two writes would be caught) while this one reads it: every read is a whole payload.
TEST(CodeCacheTest, ConcurrentWritersNeverTearAnEntry) {
  CodeCache cache(FreshDirectory("concurrent"));
  const std::string digest = SomeKey().Digest();
  auto payload = [](int writer) {
    return std::string(4096 * (writer + 1), static_cast<char>('a' + writer));
  };
  std::vector<pid_t> children;
  for (int writer = 0; writer < 4; ++writer) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      for (int i = 0; i < 200; ++i) {
        if (!cache.Store(digest, payload(writer)).ok()) _exit(1);
      }
      _exit(0);
    }
    children.push_back(pid);
  }
  int reads = 0;
  for (int i = 0; i < 2000; ++i) {
    std::optional<std::string> loaded = cache.Load(digest);
    if (!loaded) continue;
    ++reads;
    bool whole = false;
    for (int writer = 0; writer < 4; ++writer) whole = whole || *loaded == payload(writer);
    ASSERT_TRUE(whole) << "read a torn entry of " << loaded->size() << " bytes";
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  EXPECT_TRUE(cache.Load(digest).has_value());
  for (const auto& entry : std::filesystem::directory_iterator(cache.directory())) {
    EXPECT_EQ(entry.path().extension(), ".o") << entry.path() << " left behind";
  }
}

// Sets an environment variable for one test and restores it after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value == nullptr) {
      unsetenv(name);
    } else {
      setenv(name, value, 1);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(CodeCacheTest, EnvironmentPicksTheDirectory) {
  {
    ScopedEnv dir("KILN_CACHE_DIR", "/tmp/somewhere");
    ASSERT_TRUE(CodeCache::FromEnvironment().has_value());
    EXPECT_EQ(CodeCache::FromEnvironment()->directory(), "/tmp/somewhere");
  }
  {
    ScopedEnv dir("KILN_CACHE_DIR", "off");
    EXPECT_FALSE(CodeCache::FromEnvironment().has_value());
  }
  {
    ScopedEnv dir("KILN_CACHE_DIR", nullptr);
    ScopedEnv xdg("XDG_CACHE_HOME", "/xdg");
    ASSERT_TRUE(CodeCache::FromEnvironment().has_value());
    EXPECT_EQ(CodeCache::FromEnvironment()->directory(), "/xdg/kiln/code");
  }
  {
    ScopedEnv dir("KILN_CACHE_DIR", nullptr);
    ScopedEnv xdg("XDG_CACHE_HOME", nullptr);
    ScopedEnv home("HOME", "/home/someone");
    ASSERT_TRUE(CodeCache::FromEnvironment().has_value());
    EXPECT_EQ(CodeCache::FromEnvironment()->directory(), "/home/someone/.cache/kiln/code");
  }
}

}  // namespace
}  // namespace kiln::cpu
