// The dlopen'd driver layer on any machine: with no GPU the probe is a clean one-line error.
#include "runtime/cuda/cuda_driver.h"

#include "codegen/cuda/cuda_backend.h"
#include "gtest/gtest.h"

namespace kiln {
namespace {

TEST(CudaDriverTest, ProbeIsOkOrAOneLineNoDeviceError) {
  absl::Status probe = runtime::ProbeCudaDevice();
  if (probe.ok()) {
    auto count = runtime::CudaDeviceCount();
    ASSERT_TRUE(count.ok());
    EXPECT_GE(*count, 1);
    return;
  }
  EXPECT_EQ(probe.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(std::string(probe.message()).rfind("no CUDA device found (", 0), 0u) << probe;
  EXPECT_EQ(std::string(probe.message()).find('\n'), std::string::npos) << probe;
  bool names_step = std::string(probe.message()).find("libcuda.so.1 not loadable") != std::string::npos ||
                    std::string(probe.message()).find("cuInit failed") != std::string::npos ||
                    std::string(probe.message()).find("0 devices") != std::string::npos;
  EXPECT_TRUE(names_step) << probe;
  // Asking again gives the same answer (loaded once).
  EXPECT_EQ(runtime::ProbeCudaDevice(), probe);
}

TEST(CudaDriverTest, CheckCudaAvailableExplainsForTheCli) {
  absl::Status status = cuda::CheckCudaAvailable();
  if (runtime::ProbeCudaDevice().ok()) {
    EXPECT_TRUE(status.ok()) << status;
    return;
  }
  EXPECT_EQ(std::string(status.message()).rfind("--device cuda: no CUDA device found (", 0), 0u)
      << status;
}

TEST(CudaDriverTest, ContextCreationFailsCleanlyWithoutADevice) {
  if (runtime::ProbeCudaDevice().ok()) GTEST_SKIP() << "a GPU is present";
  auto context = runtime::CudaContext::Create(0);
  ASSERT_FALSE(context.ok());
  EXPECT_EQ(context.status(), runtime::ProbeCudaDevice());
}

}  // namespace
}  // namespace kiln
