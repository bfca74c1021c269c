// What the GPU tests (kiln_cuda_gpu_test) share: a fixture holding the device's context, and the
// W3 model built for both backends from one compile.
#ifndef KILN_TESTS_CODEGEN_CUDA_GPU_TEST_SUPPORT_H_
#define KILN_TESTS_CODEGEN_CUDA_GPU_TEST_SUPPORT_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/cpu/jit.h"
#include "gtest/gtest.h"
#include "runtime/cuda/cuda_driver.h"
#include "runtime/cuda/device_plan.h"
#include "runtime/program.h"
#include "tools/compile_pipeline.h"

namespace kiln::runtime::testing {

// A test on the GPU: skipped when there is no CUDA device, failed when there is one whose context
// cannot be made. Base is ::testing::Test or a TestWithParam.
template <typename Base = ::testing::Test>
class WithGpu : public Base {
 protected:
  void SetUp() override {
    if (absl::Status probe = ProbeCudaDevice(); !probe.ok()) GTEST_SKIP() << probe.message();
    absl::StatusOr<std::unique_ptr<CudaContext>> context = CudaContext::Create(0);
    ASSERT_TRUE(context.ok()) << context.status();
    context_ = *std::move(context);
  }
  std::unique_ptr<CudaContext> context_;
};

// W3 (examples/fashion_mlp.kiln) for both backends from one compile, to compare the CUDA executor
// with the CPU: the CPU build's program spec and JIT (its executables initialize the persistent
// tensors) and the device program NVRTC made.
struct W3Build {
  tools::CompiledModel model;
  ProgramSpec spec;
  std::unique_ptr<cpu::CpuJit> jit;
  DeviceProgram device;
};

// `entries` are (training, batch size) pairs; `data_parallel` compiles the step with the
// gradient all-reduce (as one rank of a data-parallel job).
absl::StatusOr<W3Build> BuildW3(const std::vector<tools::EntryRequest>& entries,
                                bool data_parallel = false);

}  // namespace kiln::runtime::testing

#endif  // KILN_TESTS_CODEGEN_CUDA_GPU_TEST_SUPPORT_H_
