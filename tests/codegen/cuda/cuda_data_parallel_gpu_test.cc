// Data parallelism on a CUDA device (label gpu; every test skips without a device). One GPU
// cannot hold two NCCL ranks (NCCL refuses two ranks on one device), so these check the parts a
// multi-GPU run is made of:
//   - the executor hands each all_reduce kernel's buffer to the bound DeviceCommunicator in
//     stream order, inside the step's CUDA graph: one that zeroes the gradient bucket leaves
//     Adam's parameters where they were, and it sees every gradient value once per step;
//   - NCCL itself in a world of one (unique id, init, ncclAvg, captured in a CUDA graph) trains
//     bit for bit like no communicator;
//   - the CUDA trainer's rank logic (its RankShare at the local batch, summed metrics, the
//     per-epoch sync through the host) against the CPU trainer's, both as rank 0 of two ranks
//     whose peer mirrors it.
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/communicator.h"
#include "runtime/cuda/cuda_driver.h"
#include "runtime/cuda/cuda_executable.h"
#include "runtime/cuda/cuda_trainer.h"
#include "runtime/cuda/device_communicator.h"
#include "runtime/dataset.h"
#include "runtime/executable.h"
#include "runtime/random.h"
#include "runtime/thread_pool.h"
#include "runtime/trainer.h"
#include "tests/codegen/cuda/gpu_test_support.h"

namespace kiln::runtime {
namespace {

constexpr int64_t kBatch = 64;

// Stands in for the other ranks: the bucket is overwritten with zeros (from page-locked memory,
// so the copy is captured into the step's graph like a collective).
class ZeroingCollectives final : public DeviceCommunicator {
 public:
  static constexpr size_t kCapacity = size_t{1} << 20;
  explicit ZeroingCollectives(CudaContext& context) : context_(context) {
    absl::StatusOr<void*> zeros = context.AllocatePinned(kCapacity * sizeof(float));
    if (zeros.ok()) {
      zeros_ = *zeros;
      std::memset(zeros_, 0, kCapacity * sizeof(float));
    }
  }
  ~ZeroingCollectives() override {
    if (zeros_ != nullptr) (void)context_.FreePinned(zeros_);
  }
  int world_size() const override { return 2; }
  std::string backend() const override { return "zeroing"; }
  absl::Status AllReduceMean(CudaDevicePtr data, size_t count, CudaStream stream) override {
    ++calls;
    values += static_cast<int64_t>(count);
    if (zeros_ == nullptr || count > kCapacity) return absl::InternalError("no zeros for that");
    return context_.CopyToDeviceAsync(data, zeros_, static_cast<int64_t>(count * sizeof(float)),
                                      stream);
  }
  int calls = 0;
  int64_t values = 0;

 private:
  CudaContext& context_;
  void* zeros_ = nullptr;
};

// Rank 0 of two ranks whose peer holds exactly what this one holds: sums double, means and
// broadcasts change nothing.
class MirroredPair final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 2; }
  int local_rank() const override { return 0; }
  std::string backend() const override { return "mirrored"; }
  absl::Status AllReduceMean(float*, size_t) override { return absl::OkStatus(); }
  absl::Status AllReduceSum(double* data, size_t count) override {
    for (size_t i = 0; i < count; ++i) data[i] *= 2;
    return absl::OkStatus();
  }
  absl::Status Broadcast(void*, size_t, int) override { return absl::OkStatus(); }
  absl::StatusOr<std::vector<std::string>> AllGather(const std::string& bytes) override {
    return std::vector<std::string>{bytes, bytes};
  }
  absl::Status Barrier() override { return absl::OkStatus(); }
  [[noreturn]] void Abort(int code) override { std::exit(code); }
};

class CudaDataParallelGpuTest : public testing::WithGpu<> {
 protected:

  // Runs `steps` W3 training steps of the data-parallel build on the device, with `collectives`
  // bound (null: none), from seed 7's parameters and the same random batches every time; returns
  // the persistent tensors' bytes afterwards and the losses.
  struct Run {
    std::vector<std::string> persistent;
    std::vector<float> losses;
  };
  Run Train(testing::W3Build& build, DeviceCommunicator* collectives, bool graphs, int steps) {
    Run run;
    auto host = Executable::Create(build.spec, *build.jit, /*seed=*/7);
    EXPECT_TRUE(host.ok()) << host.status();
    if (!host.ok()) return run;
    auto gpu = CudaExecutable::Create(*context_, **host, build.device,
                                      CudaExecutableOptions{.use_graphs = graphs});
    EXPECT_TRUE(gpu.ok()) << gpu.status();
    if (!gpu.ok()) return run;
    EXPECT_TRUE((*gpu)->BindCollectives(collectives).ok());
    auto entry = (*gpu)->FindEntry(true, kBatch);
    EXPECT_TRUE(entry.ok()) << entry.status();
    if (!entry.ok()) return run;
    const ProgramSpec& spec = build.spec;
    std::mt19937 rng(11);
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    for (int s = 0; s < steps; ++s) {
      const int parity = s % CudaExecutable::kParities;
      for (const BufferSpec& b : spec.entries[*entry].buffers) {
        if (b.role != BufferRole::kInput) continue;
        auto staged = (*gpu)->StagedInput(*entry, parity, b.name);
        EXPECT_TRUE(staged.ok()) << b.name;
        if (!staged.ok()) return run;
        if (b.name == spec.features_input) {
          float* x = static_cast<float*>(*staged);
          for (int64_t i = 0; i < NumElements(b.shape); ++i) x[i] = uniform(rng);
        } else if (b.name == spec.labels_input) {
          int64_t* y = static_cast<int64_t*>(*staged);
          for (int64_t i = 0; i < NumElements(b.shape); ++i) y[i] = rng() % 10;
        } else if (b.name == kLearningRateInput) {
          *static_cast<float*>(*staged) = 3e-3f;
        } else {
          *static_cast<int64_t*>(*staged) = StepKey(7, s);
        }
      }
      EXPECT_TRUE((*gpu)->Launch(*entry, parity).ok());
      EXPECT_TRUE((*gpu)->Wait(*entry, parity).ok());
      auto loss = (*gpu)->Output(*entry, parity, kLossOutput);
      EXPECT_TRUE(loss.ok());
      if (loss.ok()) run.losses.push_back(*static_cast<const float*>(*loss));
    }
    EXPECT_TRUE((*gpu)->DownloadPersistent().ok());
    if (graphs) {
      EXPECT_GE((*gpu)->graphs_captured(), 1);
    }
    for (const Tensor& tensor : (*host)->persistent()) {
      run.persistent.emplace_back(static_cast<const char*>(tensor.data()), tensor.bytes());
    }
    return run;
  }

};

int64_t TrainableValues(const ProgramSpec& spec) {
  int64_t values = 0;
  for (const PersistentSpec& p : spec.persistent) {
    if (p.trainable) values += NumElements(p.shape);
  }
  return values;
}

TEST_F(CudaDataParallelGpuTest, ZeroedGradientBucketLeavesTheParameters) {
  absl::StatusOr<testing::W3Build> build = testing::BuildW3({{true, kBatch}}, true);
  ASSERT_TRUE(build.ok()) << build.status();
  auto initial = Executable::Create(build->spec, *build->jit, /*seed=*/7);
  ASSERT_TRUE(initial.ok());
  const std::vector<Tensor>& before = (*initial)->persistent();
  for (bool graphs : {false, true}) {
    SCOPED_TRACE(graphs ? "CUDA graphs" : "eager");
    // Unbound, the all_reduce is the identity and Adam moves every parameter.
    const Run alone = Train(*build, nullptr, graphs, 1);
    ZeroingCollectives zeroing(*context_);
    const Run zeroed = Train(*build, &zeroing, graphs, 1);
    ASSERT_EQ(alone.persistent.size(), before.size());
    ASSERT_EQ(zeroed.persistent.size(), before.size());
    for (size_t i = 0; i < before.size(); ++i) {
      if (!build->spec.persistent[i].trainable) continue;
      const std::string start(static_cast<const char*>(before[i].data()), before[i].bytes());
      EXPECT_NE(alone.persistent[i], start) << before[i].name() << " did not train";
      // A zero mean gradient: Adam's first step moves nothing.
      EXPECT_EQ(zeroed.persistent[i], start) << before[i].name() << " moved";
    }
    // Every gradient value went through the communicator once (the pass's bucket).
    EXPECT_GE(zeroing.calls, 1);
    EXPECT_EQ(zeroing.values, TrainableValues(build->spec));
  }
}

TEST_F(CudaDataParallelGpuTest, NcclInAWorldOfOneTrainsBitForBitLikeNoCommunicator) {
  if (absl::Status nccl = ProbeNccl(); !nccl.ok()) GTEST_SKIP() << "NCCL: " << nccl.message();
  absl::StatusOr<testing::W3Build> build = testing::BuildW3({{true, kBatch}}, true);
  ASSERT_TRUE(build.ok()) << build.status();
  std::unique_ptr<Communicator> one = MakeLocalCommunicator();
  absl::StatusOr<std::unique_ptr<DeviceCommunicator>> nccl = MakeNcclCommunicator(*one);
  ASSERT_TRUE(nccl.ok()) << nccl.status();
  EXPECT_EQ((*nccl)->world_size(), 1);
  for (bool graphs : {false, true}) {
    SCOPED_TRACE(graphs ? "CUDA graphs" : "eager");
    const Run alone = Train(*build, nullptr, graphs, 3);
    const Run with_nccl = Train(*build, nccl->get(), graphs, 3);
    EXPECT_EQ(with_nccl.losses, alone.losses);
    EXPECT_NE(alone.losses.front(), alone.losses.back());
    ASSERT_EQ(with_nccl.persistent.size(), alone.persistent.size());
    for (size_t i = 0; i < alone.persistent.size(); ++i) {
      EXPECT_EQ(with_nccl.persistent[i], alone.persistent[i]) << build->spec.persistent[i].name;
    }
  }
}

Dataset RandomDataset(int64_t samples, uint32_t seed) {
  Dataset data;
  data.num_samples = samples;
  data.feature_dim = 784;
  data.sample_shape = {28, 28};
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  for (int64_t i = 0; i < samples * data.feature_dim; ++i) data.features.push_back(uniform(rng));
  for (int64_t i = 0; i < samples; ++i) data.labels.push_back(rng() % 10);
  return data;
}

TEST_F(CudaDataParallelGpuTest, CudaTrainerRanksMatchTheCpuTrainer) {
  // Rank 0 of two: each trains on every other sample of the epoch's order at the local batch 32,
  // evaluates the first half of the test set, and sums metrics with its (mirrored) peer.
  absl::StatusOr<testing::W3Build> build =
      testing::BuildW3({{true, kBatch / 2}, {false, kBatch / 2}}, true);
  ASSERT_TRUE(build.ok()) << build.status();
  const Dataset train = RandomDataset(640, 1), test = RandomDataset(128, 2);
  TrainOptions options;
  options.epochs = 2;
  options.batch_size = kBatch;
  options.learning_rate = 1e-3;
  options.seed = 7;
  options.per_class_accuracy = true;
  MirroredPair pair_cpu, pair_gpu;

  auto cpu_exe = Executable::Create(build->spec, *build->jit, /*seed=*/7);
  ASSERT_TRUE(cpu_exe.ok());
  ThreadPool pool(1);
  TrainOptions cpu_options = options;
  cpu_options.comm = &pair_cpu;
  Trainer cpu_trainer(**cpu_exe, pool, cpu_options);
  auto cpu_history = cpu_trainer.Fit(train, test);
  ASSERT_TRUE(cpu_history.ok()) << cpu_history.status();

  auto host = Executable::Create(build->spec, *build->jit, /*seed=*/7);
  ASSERT_TRUE(host.ok());
  auto gpu = CudaExecutable::Create(*context_, **host, build->device, CudaExecutableOptions{});
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  TrainOptions gpu_options = options;
  gpu_options.comm = &pair_gpu;
  CudaTrainer gpu_trainer(**gpu, **host, gpu_options);
  auto gpu_history = gpu_trainer.Fit(train, test);
  ASSERT_TRUE(gpu_history.ok()) << gpu_history.status();

  ASSERT_EQ(cpu_history->size(), 2u);
  ASSERT_EQ(gpu_history->size(), 2u);
  for (size_t e = 0; e < 2; ++e) {
    const EpochMetrics& c = (*cpu_history)[e];
    const EpochMetrics& g = (*gpu_history)[e];
    EXPECT_EQ(g.steps, 10);  // ceil(640 / 2) samples per rank at 32.
    EXPECT_EQ(g.steps, c.steps);
    EXPECT_NEAR(g.train_loss, c.train_loss, 1e-4 * std::fabs(c.train_loss)) << "epoch " << e + 1;
    EXPECT_NEAR(g.test_loss, c.test_loss, 1e-4 * std::fabs(c.test_loss)) << "epoch " << e + 1;
    EXPECT_NEAR(g.test_accuracy, c.test_accuracy, 1.0 / 128) << "epoch " << e + 1;
  }
  for (size_t i = 0; i < build->spec.persistent.size(); ++i) {
    const Tensor& c = (*cpu_exe)->persistent()[i];
    const Tensor& g = (*host)->persistent()[i];
    if (c.type() != ElementType::kF32) continue;
    int bad = 0;
    for (int64_t k = 0; k < c.num_elements(); ++k) {
      const double tolerance = 1e-3 * std::max(1.0, std::fabs(static_cast<double>(c.f32()[k])));
      if (!(std::fabs(static_cast<double>(c.f32()[k]) - g.f32()[k]) <= tolerance)) ++bad;
    }
    EXPECT_EQ(bad, 0) << c.name();
  }
}

}  // namespace
}  // namespace kiln::runtime
