// Needs a GPU (label `gpu`); every test skips when ProbeCudaDevice fails.
//
// The CUDA executor against the CPU backend on the W3 model (examples/fashion_mlp.kiln: the
// Fashion-MNIST MLP with Adam): the same ProgramSpec, the same initial parameters (both
// executables are created from one seed), the same random batches and step keys; after one step
// and after five, the loss and every persistent tensor (parameters and Adam state) must agree
// within 1e-4 (relative to max(1, |cpu|)). Runs with and without CUDA graphs, and with cuBLASLt
// off (the generated GEMM) and on.
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/cuda/cuda_driver.h"
#include "runtime/cuda/cuda_executable.h"
#include "runtime/executable.h"
#include "runtime/random.h"
#include "runtime/thread_pool.h"
#include "runtime/trainer.h"
#include "tests/codegen/cuda/gpu_test_support.h"

namespace kiln::runtime {
namespace {

constexpr int64_t kBatch = 64;

// Fills every input of the entry the way the trainer does, from `rng`: features uniform in
// [0, 1), labels uniform class indices, the learning rate, the step key.
struct Batch {
  std::vector<float> features;
  std::vector<int64_t> labels;
};

Batch RandomBatch(std::mt19937& rng, int64_t features_per_sample, int64_t classes) {
  Batch batch;
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  std::uniform_int_distribution<int64_t> label(0, classes - 1);
  for (int64_t i = 0; i < kBatch * features_per_sample; ++i) batch.features.push_back(uniform(rng));
  for (int64_t i = 0; i < kBatch; ++i) batch.labels.push_back(label(rng));
  return batch;
}

void ExpectClose(const std::string& what, const float* cpu, const float* gpu, int64_t n) {
  int bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double tolerance = 1e-4 * std::max(1.0, std::fabs(static_cast<double>(cpu[i])));
    if (!(std::fabs(static_cast<double>(cpu[i]) - gpu[i]) <= tolerance) && ++bad <= 5) {
      ADD_FAILURE() << what << "[" << i << "]: cpu " << cpu[i] << " cuda " << gpu[i];
    }
  }
  EXPECT_EQ(bad, 0) << what;
}

class CudaExecutableGpuTest
    : public testing::WithGpu<
          ::testing::TestWithParam<std::tuple<bool /*graphs*/, bool /*cublaslt*/>>> {
 protected:

  // Runs `steps` training steps on both backends and compares loss and persistent tensors.
  void CompareSteps(int steps) {
    const auto [graphs, cublaslt] = GetParam();
    // W3's training step for kBatch: the LLVM module for the CPU and NVRTC for CUDA.
    absl::StatusOr<testing::W3Build> build = testing::BuildW3({{true, kBatch}});
    ASSERT_TRUE(build.ok()) << build.status();
    testing::W3Build& compiled = *build;
    const ProgramSpec& spec = compiled.spec;
    auto cpu_exe = Executable::Create(spec, *compiled.jit, /*seed=*/7);
    auto host_exe = Executable::Create(spec, *compiled.jit, /*seed=*/7);
    ASSERT_TRUE(cpu_exe.ok() && host_exe.ok());
    auto gpu_exe = CudaExecutable::Create(
        *context_, **host_exe, compiled.device,
        CudaExecutableOptions{.use_graphs = graphs, .use_cublaslt = cublaslt});
    ASSERT_TRUE(gpu_exe.ok()) << gpu_exe.status();
    auto cpu_entry = (*cpu_exe)->FindEntry(true, kBatch);
    auto gpu_entry = (*gpu_exe)->FindEntry(true, kBatch);
    ASSERT_TRUE(cpu_entry.ok() && gpu_entry.ok());
    const EntrySpec& entry = (*cpu_entry)->spec();
    ThreadPool pool(1);
    std::mt19937 rng(11);
    int64_t features_per_sample = 0;
    for (const BufferSpec& b : entry.buffers) {
      if (b.name == spec.features_input) features_per_sample = NumElements(b.shape) / kBatch;
    }
    for (int s = 0; s < steps; ++s) {
      const int parity = s % CudaExecutable::kParities;
      const Batch batch = RandomBatch(rng, features_per_sample, 10);
      const float lr = 3e-3f;
      const int64_t key = StepKey(7, s);
      for (const BufferSpec& b : entry.buffers) {
        if (b.role != BufferRole::kInput) continue;
        const void* source = b.name == spec.features_input ? static_cast<const void*>(batch.features.data())
                             : b.name == spec.labels_input ? static_cast<const void*>(batch.labels.data())
                             : b.name == kLearningRateInput ? static_cast<const void*>(&lr)
                                                            : static_cast<const void*>(&key);
        auto cpu_view = (*cpu_entry)->Input(b.name);
        auto staged = (*gpu_exe)->StagedInput(*gpu_entry, parity, b.name);
        ASSERT_TRUE(cpu_view.ok() && staged.ok()) << b.name;
        std::memcpy(cpu_view->data, source, b.bytes);
        std::memcpy(*staged, source, b.bytes);
      }
      (*cpu_entry)->Run(pool.parallel());
      ASSERT_TRUE((*gpu_exe)->Launch(*gpu_entry, parity).ok());
      ASSERT_TRUE((*gpu_exe)->Wait(*gpu_entry, parity).ok());
      auto cpu_loss = (*cpu_entry)->Output(kLossOutput);
      auto gpu_loss = (*gpu_exe)->Output(*gpu_entry, parity, kLossOutput);
      ASSERT_TRUE(cpu_loss.ok() && gpu_loss.ok());
      ExpectClose("loss at step " + std::to_string(s + 1), cpu_loss->f32(),
                  static_cast<const float*>(*gpu_loss), 1);
    }
    ASSERT_TRUE((*gpu_exe)->DownloadPersistent().ok());
    for (const PersistentSpec& p : spec.persistent) {
      const Tensor* cpu = (*cpu_exe)->FindPersistent(p.name);
      const Tensor* gpu = (*host_exe)->FindPersistent(p.name);
      if (p.type != ElementType::kF32) {
        EXPECT_EQ(std::memcmp(cpu->data(), gpu->data(), cpu->bytes()), 0) << p.name;
        continue;
      }
      ExpectClose(p.name, cpu->f32(), gpu->f32(), cpu->num_elements());
    }
    if (graphs) {
      EXPECT_GE((*gpu_exe)->graphs_captured(), 1);
    }
  }

};

TEST_P(CudaExecutableGpuTest, OneW3StepMatchesTheCpu) { CompareSteps(1); }

TEST_P(CudaExecutableGpuTest, FiveAdamStepsMatchTheCpu) { CompareSteps(5); }

INSTANTIATE_TEST_SUITE_P(Modes, CudaExecutableGpuTest,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool()));

}  // namespace
}  // namespace kiln::runtime
