// NVRTC compilation: options, errors and warnings surfaced, the on-disk cache.
#include "codegen/cuda/nvrtc_compiler.h"

#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_join.h"
#include "gtest/gtest.h"

namespace kiln::cuda {
namespace {

class NvrtcCompilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kiln_nvrtc_test_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    options_.cache_dir = dir_.string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
  NvrtcOptions options_;
};

constexpr char kAxpy[] =
    "extern \"C\" __global__ void axpy(float a, const float* x, float* y, int n) {\n"
    "  int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
    "  if (i < n) y[i] = a * x[i] + y[i];\n"
    "}\n";

TEST_F(NvrtcCompilerTest, CommandLineHasArchDefaultDeviceStdAndNoContraction) {
  EXPECT_EQ(absl::StrJoin(NvrtcCommandLine(options_), " "),
            "--gpu-architecture=sm_90 -default-device --std=c++17 --fmad=false");
  options_.arch = "compute_80";
  options_.fmad = true;
  EXPECT_EQ(NvrtcCommandLine(options_)[0], "--gpu-architecture=compute_80");
  EXPECT_EQ(NvrtcCommandLine(options_)[3], "--fmad=true");
}

TEST_F(NvrtcCompilerTest, CompilesCubinAndPtx) {
  auto cubin = CompileCuda(kAxpy, options_);
  ASSERT_TRUE(cubin.ok()) << cubin.status();
  EXPECT_TRUE(cubin->is_cubin);
  EXPECT_EQ(cubin->binary.substr(0, 4), "\x7f" "ELF");
  EXPECT_EQ(cubin->log, "");
  options_.arch = "compute_90";
  auto ptx = CompileCuda(kAxpy, options_);
  ASSERT_TRUE(ptx.ok()) << ptx.status();
  EXPECT_FALSE(ptx->is_cubin);
  EXPECT_NE(ptx->binary.find(".entry axpy"), std::string::npos);
  // No --fmad: the PTX multiplies and adds separately.
  EXPECT_EQ(ptx->binary.find("fma.rn.f32"), std::string::npos);
}

TEST_F(NvrtcCompilerTest, ErrorsCarryTheLog) {
  auto result = CompileCuda("__global__ void f() { undefined_fn(); }\n", options_, "bad.cu");
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("bad.cu"), std::string::npos);
  EXPECT_NE(result.status().message().find("undefined_fn"), std::string::npos);
}

TEST_F(NvrtcCompilerTest, WarningsAreSurfacedAndCanFail) {
  const std::string warns = "__global__ void f(int* p) { int unused = 3; p[0] = 1; }\n";
  options_.use_cache = false;
  auto lenient = CompileCuda(warns, options_, "warn.cu");
  ASSERT_TRUE(lenient.ok()) << lenient.status();
  EXPECT_NE(lenient->log.find("warning"), std::string::npos) << lenient->log;
  options_.warnings_as_errors = true;
  auto strict = CompileCuda(warns, options_, "warn.cu");
  ASSERT_FALSE(strict.ok());
  EXPECT_NE(strict.status().message().find("unused"), std::string::npos) << strict.status();
}

TEST_F(NvrtcCompilerTest, SecondCompileComesFromTheCacheAtomically) {
  auto first = CompileCuda(kAxpy, options_);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->from_cache);
  auto second = CompileCuda(kAxpy, options_);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->from_cache);
  EXPECT_EQ(second->binary, first->binary);
  EXPECT_EQ(second->cache_key, first->cache_key);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    ++files;
    EXPECT_EQ(entry.path().filename().string(), first->cache_key + ".cubin");  // No temp left.
  }
  EXPECT_EQ(files, 1);
}

TEST_F(NvrtcCompilerTest, CacheKeyDependsOnSourceOptionsAndVersion) {
  std::string base = CacheKey("a", options_, "13.0");
  EXPECT_EQ(base.size(), 32u);
  EXPECT_EQ(CacheKey("a", options_, "13.0"), base);
  EXPECT_NE(CacheKey("b", options_, "13.0"), base);
  EXPECT_NE(CacheKey("a", options_, "13.1"), base);
  NvrtcOptions other = options_;
  other.arch = "sm_80";
  EXPECT_NE(CacheKey("a", other, "13.0"), base);
}

TEST_F(NvrtcCompilerTest, DefaultCacheDirFollowsXdg) {
  std::string saved = getenv("XDG_CACHE_HOME") ? getenv("XDG_CACHE_HOME") : "";
  setenv("XDG_CACHE_HOME", "/x/cache", 1);
  EXPECT_EQ(DefaultCacheDir(), "/x/cache/kiln/cuda");
  unsetenv("XDG_CACHE_HOME");
  EXPECT_NE(DefaultCacheDir().find(".cache/kiln/cuda"), std::string::npos);
  if (!saved.empty()) setenv("XDG_CACHE_HOME", saved.c_str(), 1);
}

}  // namespace
}  // namespace kiln::cuda
