// Every example model, training and eval step, at the full and a partial batch: every kernel is
// generated, its launch geometry covers its iteration space, the device memory plan is the
// planner's, and the whole program compiles with NVRTC for sm_90 with zero errors and zero
// warnings. Each program is ONE NVRTC compile (about a second or two).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "codegen/cuda/cuda_backend.h"
#include "frontend/frontend.h"
#include "gtest/gtest.h"
#include "ir/op_registry.h"
#include "tools/compile_pipeline.h"

namespace kiln::cuda {
namespace {

struct Case {
  const char* model;
  bool training;
  int64_t batch;
};

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  std::string path = info.param.model;
  const size_t slash = path.rfind('/');
  std::string stem = path.substr(slash + 1, path.rfind('.') - slash - 1);
  return stem + (info.param.training ? "_train_b" : "_eval_b") + std::to_string(info.param.batch);
}

ir::KernelProgram Compile(const Case& c) {
  auto ast = frontend::ParseModelFile(c.model);
  EXPECT_TRUE(ast.ok()) << ast.status();
  auto train = frontend::LowerTrainConfig(*ast);
  EXPECT_TRUE(train.ok()) << train.status();
  tools::CompileOptions options;  // Fused as `--device cuda` fuses them.
  options.fusion.windowed_gemm_operands = CudaBackend().ReadsWindowedGemmOperands();
  auto program = tools::CompileEntryProgram(*ast, *train, {c.training, c.batch}, options);
  EXPECT_TRUE(program.ok()) << program.status();
  return *std::move(program);
}

// The independent view of how much work a kernel has, from the IR alone.
struct Work {
  int64_t items = 0;           // Elements, rows, columns, or output rows (GEMM).
  int64_t columns = 0;         // GEMM output columns.
};

Work WorkOf(const ir::Graph& graph, const ir::Kernel& kernel) {
  const ir::Node& root = graph.node(kernel.root);
  if (kernel.kind == ir::KernelKind::kLoop) return {root.type.num_elements(), 0};
  if (kernel.kind == ir::KernelKind::kMatmul) return {root.type.shape[0], root.type.shape[1]};
  return {root.type.num_elements(), 0};  // Reductions: one item per output element.
}

class CudaProgramTest : public ::testing::TestWithParam<Case> {};

TEST_P(CudaProgramTest, EveryKernelGeneratesCoversItsSpaceAndCompilesCleanly) {
  const Case& c = GetParam();
  ir::KernelProgram program = Compile(c);
  ASSERT_FALSE(program.kernels.empty());
  const std::string prefix = CaseName({c, 0});
  auto emitted = EmitCudaProgram(program, prefix);
  ASSERT_TRUE(emitted.ok()) << emitted.status();
  ASSERT_EQ(emitted->kernels.size(), program.kernels.size());

  // The device memory plan is the planner's.
  EXPECT_EQ(emitted->memory.arena_bytes, program.memory.arena_bytes);
  ASSERT_EQ(emitted->memory.buffers.size(), program.memory.buffers.size());
  for (size_t i = 0; i < program.memory.buffers.size(); ++i) {
    const ir::Buffer& planned = program.memory.buffers[i];
    const DeviceBuffer& device = emitted->memory.buffers[i];
    EXPECT_EQ(device.bytes, planned.type.bytes()) << planned.name;
    if (planned.kind == ir::BufferKind::kOutput || planned.kind == ir::BufferKind::kTemp) {
      EXPECT_EQ(device.arena_offset, planned.offset) << planned.name;
      EXPECT_LE(device.arena_offset + device.bytes, program.memory.arena_bytes) << planned.name;
      EXPECT_EQ(device.arena_offset % 16, 0) << planned.name;
    } else {
      EXPECT_EQ(device.arena_offset, -1) << planned.name;
    }
  }

  std::map<Strategy, int> strategies;
  for (size_t i = 0; i < program.kernels.size(); ++i) {
    const ir::Kernel& kernel = program.kernels[i];
    const CudaKernel& cuda = emitted->kernels[i];
    SCOPED_TRACE(cuda.name);
    ++strategies[cuda.strategy];
    EXPECT_EQ(cuda.name, prefix + "_" + kernel.name);
    EXPECT_NE(cuda.source.find("extern \"C\" __global__ void __launch_bounds__("),
              std::string::npos);
    EXPECT_NE(emitted->source.find(" " + cuda.name + "("), std::string::npos);
    const LaunchConfig& launch = cuda.launch;
    EXPECT_EQ(launch.block.total() % 32, 0);
    EXPECT_LE(launch.block.total(), 1024);
    EXPECT_GE(launch.grid.x, 1);
    EXPECT_LE(launch.grid.x, (int64_t{1} << 31) - 1);
    EXPECT_LE(launch.grid.y, 65535);
    EXPECT_EQ(launch.grid.z, 1);
    Work work = WorkOf(program.graph, kernel);
    switch (cuda.strategy) {
      case Strategy::kElementwise:
        EXPECT_GE(launch.grid.x * launch.block.x, work.items);
        break;
      case Strategy::kVectorElementwise:
        EXPECT_EQ(work.items % kVectorElements, 0);
        EXPECT_GE(launch.grid.x * launch.block.x * kVectorElements, work.items);
        break;
      case Strategy::kWarpPerRow:
        EXPECT_GE(launch.grid.x * (launch.block.x / 32), work.items);
        break;
      case Strategy::kBlockPerRow:
        EXPECT_GE(launch.grid.x, work.items);
        break;
      case Strategy::kColumn:
        EXPECT_GE(launch.grid.x * launch.block.x, work.items);
        break;
      case Strategy::kTiledGemm:
        ASSERT_TRUE(cuda.gemm.has_value());
        EXPECT_EQ(cuda.gemm->m, work.items);
        EXPECT_EQ(cuda.gemm->n, work.columns);
        EXPECT_GE(launch.grid.y * 64, work.items);
        EXPECT_GE(launch.grid.x * 64, work.columns);
        break;
    }
    // Every buffer the kernel reads or writes is one of its parameters.
    for (ir::NodeId id : kernel.outputs) {
      int slot = program.memory.node_buffer[id];
      EXPECT_NE(std::find(cuda.param_slots.begin(), cuda.param_slots.end(), slot),
                cuda.param_slots.end())
          << "output slot " << slot;
    }
  }
  // Training steps have bias gradients (column sums) and a loss; all steps have GEMMs.
  EXPECT_GT(strategies[Strategy::kTiledGemm], 0);
  EXPECT_GT(strategies[Strategy::kWarpPerRow] + strategies[Strategy::kBlockPerRow], 0);
  if (c.training) {
    EXPECT_GT(strategies[Strategy::kColumn], 0);
  }

  // KILN_CUDA_DUMP_DIR=dir writes each program's CUDA C there, for reading.
  if (const char* dump = std::getenv("KILN_CUDA_DUMP_DIR"); dump != nullptr) {
    std::ofstream(std::string(dump) + "/" + prefix + ".cu") << emitted->source;
  }
  NvrtcOptions options;
  options.use_cache = false;  // Measure and check a real compile.
  options.warnings_as_errors = true;
  auto start = std::chrono::steady_clock::now();
  auto compiled = CompileCuda(emitted->source, options, prefix + ".cu");
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(compiled.ok()) << compiled.status() << "\n" << emitted->source;
  EXPECT_EQ(compiled->log, "");
  EXPECT_TRUE(compiled->is_cubin);
  for (const CudaKernel& kernel : emitted->kernels) {
    EXPECT_NE(compiled->binary.find(kernel.name), std::string::npos) << kernel.name;
  }
  std::printf("%s: %zu kernels (%d elementwise, %d of them x4, %d warp-row, %d block-row, %d column, %d gemm), "
              "%zu bytes of CUDA C, CUBIN %zu bytes, NVRTC %.2f s\n",
              prefix.c_str(), emitted->kernels.size(),
              strategies[Strategy::kElementwise] + strategies[Strategy::kVectorElementwise],
              strategies[Strategy::kVectorElementwise],
              strategies[Strategy::kWarpPerRow], strategies[Strategy::kBlockPerRow],
              strategies[Strategy::kColumn], strategies[Strategy::kTiledGemm],
              emitted->source.size(), compiled->binary.size(), seconds);
}

INSTANTIATE_TEST_SUITE_P(
    Examples, CudaProgramTest,
    ::testing::Values(Case{"examples/fashion_mlp.kiln", true, 64},
                      Case{"examples/fashion_mlp.kiln", true, 32},
                      // A large batch: the loss and the bias gradients reduce on clusters.
                      Case{"examples/fashion_mlp.kiln", true, 16384},
                      Case{"examples/fashion_mlp.kiln", false, 64},
                      Case{"examples/fashion_mlp.kiln", false, 16},
                      Case{"examples/fashion_mlp_dropout.kiln", true, 64},
                      Case{"examples/fashion_mlp_dropout.kiln", true, 32},
                      Case{"examples/fashion_mlp_dropout.kiln", false, 64},
                      Case{"examples/fashion_mlp_dropout.kiln", false, 16},
                      Case{"examples/fashion_mlp_functional.kiln", true, 64},
                      Case{"examples/fashion_mlp_functional.kiln", true, 32},
                      Case{"examples/fashion_mlp_functional.kiln", false, 64},
                      Case{"examples/fashion_mlp_functional.kiln", false, 16},
                      Case{"examples/activations_mlp.kiln", true, 64},
                      Case{"examples/activations_mlp.kiln", false, 16},
                      Case{"examples/binary_classifier.kiln", true, 100},
                      Case{"examples/binary_classifier.kiln", false, 100},
                      Case{"examples/multiclass_classifier.kiln", true, 100},
                      Case{"examples/multiclass_classifier.kiln", false, 100},
                      Case{"examples/regression.kiln", true, 100},
                      Case{"examples/regression.kiln", false, 100},
                      Case{"examples/mnist_dropout_mlp.kiln", true, 16},
                      Case{"examples/mnist_dropout_mlp.kiln", false, 16},
                      Case{"examples/fashion_cnn.kiln", true, 64},
                      Case{"examples/fashion_cnn.kiln", false, 16},
                      Case{"tests/codegen/cuda/spatial_ops.kiln", true, 16},
                      Case{"tests/codegen/cuda/spatial_ops.kiln", false, 16}),
    CaseName);

// A data-parallel step: the kernel of each all_reduce (the gradient bucket) names the buffer the
// runtime averages over the ranks, and no other kernel does; the bucket holds every gradient.
TEST(CudaDataParallelTest, AllReduceKernelsNameTheirBucket) {
  auto ast = frontend::ParseModelFile("examples/fashion_mlp.kiln");
  ASSERT_TRUE(ast.ok()) << ast.status();
  auto train = frontend::LowerTrainConfig(*ast);
  ASSERT_TRUE(train.ok()) << train.status();
  for (bool data_parallel : {false, true}) {
    train->data_parallel = data_parallel;
    auto program = tools::CompileEntryProgram(*ast, *train, {true, 32}, {});
    ASSERT_TRUE(program.ok()) << program.status();
    auto emitted = EmitCudaProgram(*program, "w3");
    ASSERT_TRUE(emitted.ok()) << emitted.status();
    int64_t reduced = 0;
    int collectives = 0;
    for (const CudaKernel& kernel : emitted->kernels) {
      if (kernel.all_reduce_slot < 0) continue;
      ++collectives;
      const DeviceBuffer& buffer = emitted->memory.buffers.at(kernel.all_reduce_slot);
      EXPECT_GE(buffer.arena_offset, 0) << buffer.name;  // Computed by the step, in the arena.
      reduced += buffer.bytes / 4;
    }
    if (!data_parallel) {
      EXPECT_EQ(collectives, 0);
      continue;
    }
    EXPECT_EQ(collectives, 1);  // W3's 235,146 gradient values fit one 25 MB bucket.
    EXPECT_EQ(reduced, 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
  }
}

// The forward layer of an eval step, relu(x·W + b), is a GEMM cuBLASLt can run with its
// RELU_BIAS epilogue; the plan must say so and name the bias buffer.
TEST(CudaGemmPlanTest, ForwardLayerIsBiasReluForCublasLt) {
  ir::KernelProgram program = Compile({"examples/fashion_mlp.kiln", false, 64});
  auto emitted = EmitCudaProgram(program, "");
  ASSERT_TRUE(emitted.ok()) << emitted.status();
  int bias_relu = 0;
  for (const CudaKernel& kernel : emitted->kernels) {
    if (!kernel.gemm) continue;
    std::printf("%s: M=%lld N=%lld K=%lld ta=%d tb=%d epilogue=%s representable=%d %s\n",
                kernel.name.c_str(), static_cast<long long>(kernel.gemm->m),
                static_cast<long long>(kernel.gemm->n), static_cast<long long>(kernel.gemm->k),
                kernel.gemm->transpose_a, kernel.gemm->transpose_b,
                GemmEpilogueName(kernel.gemm->epilogue), kernel.gemm->cublaslt_representable,
                kernel.gemm->reason.c_str());
    if (kernel.gemm->epilogue == GemmEpilogue::kBiasRelu && kernel.gemm->cublaslt_representable) {
      ++bias_relu;
      EXPECT_GE(kernel.gemm->bias_slot, 0);
      EXPECT_EQ(program.memory.buffers[kernel.gemm->bias_slot].type.num_elements(),
                kernel.gemm->n);
    }
  }
  EXPECT_GE(bias_relu, 1);
}

}  // namespace
}  // namespace kiln::cuda
