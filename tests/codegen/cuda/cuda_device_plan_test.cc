// Host-side planning of the CUDA executor, checked without a GPU: device memory layout, kernel
// parameter packing, graph-capture bookkeeping, the cuBLASLt row-major -> column-major layout
// for all four transpose combinations (against a plain row-major matmul), and the driver /
// cuBLASLt enum values kiln declares itself against the real CUDA headers.
#include <cublasLt.h>
#include <cuda.h>

#include <algorithm>
#include <cstddef>
#include <random>
#include <vector>

#include "codegen/cuda/cuda_backend.h"
#include "gtest/gtest.h"
#include "runtime/cuda/cublaslt.h"
#include "runtime/cuda/cuda_driver.h"
#include "runtime/cuda/device_plan.h"
#include "runtime/tensor.h"

namespace kiln::runtime {
namespace {

static_assert(kCudaStreamNonBlocking == CU_STREAM_NON_BLOCKING);
static_assert(kCudaEventDisableTiming == CU_EVENT_DISABLE_TIMING);
static_assert(kCudaStreamCaptureModeThreadLocal == CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
static_assert(lt_abi::kOpN == CUBLAS_OP_N && lt_abi::kOpT == CUBLAS_OP_T);
static_assert(lt_abi::kComputeF32 == CUBLAS_COMPUTE_32F && lt_abi::kDataF32 == CUDA_R_32F);
static_assert(lt_abi::kDescTransA == CUBLASLT_MATMUL_DESC_TRANSA);
static_assert(lt_abi::kDescTransB == CUBLASLT_MATMUL_DESC_TRANSB);
static_assert(lt_abi::kDescEpilogue == CUBLASLT_MATMUL_DESC_EPILOGUE);
static_assert(lt_abi::kDescBiasPointer == CUBLASLT_MATMUL_DESC_BIAS_POINTER);
static_assert(lt_abi::kEpilogueDefault == CUBLASLT_EPILOGUE_DEFAULT);
static_assert(lt_abi::kEpilogueRelu == CUBLASLT_EPILOGUE_RELU);
static_assert(lt_abi::kEpilogueBias == CUBLASLT_EPILOGUE_BIAS);
static_assert(lt_abi::kEpilogueReluBias == CUBLASLT_EPILOGUE_RELU_BIAS);
static_assert(lt_abi::kPrefMaxWorkspaceBytes == CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES);
static_assert(lt_abi::kAlgoBytes == sizeof(cublasLtMatmulAlgo_t));
static_assert(lt_abi::kHeuristicResultBytes == sizeof(cublasLtMatmulHeuristicResult_t));
static_assert(offsetof(cublasLtMatmulHeuristicResult_t, algo) == 0);

BufferSpec Buffer(std::string name, BufferRole role, std::vector<int64_t> shape,
                  int64_t offset = 0, ElementType type = ElementType::kF32) {
  BufferSpec b{.name = std::move(name), .role = role, .type = type, .shape = std::move(shape),
               .arena_offset = offset};
  b.bytes = NumElements(b.shape) * ElementSize(type);
  return b;
}

// y = relu(x·w + b): one training-like entry and a smaller one sharing the parameters.
ProgramSpec TwoEntrySpec() {
  ProgramSpec spec;
  spec.persistent = {{.name = "w", .shape = {3, 5}}, {.name = "b", .shape = {5}},
                     {.name = "step", .type = ElementType::kI64, .shape = {}}};
  EntrySpec big{.symbol = "m_b4", .training = true, .batch_size = 4, .arena_bytes = 192};
  big.buffers = {Buffer("x", BufferRole::kInput, {4, 3}),
                 Buffer("w", BufferRole::kPersistent, {3, 5}),
                 Buffer("b", BufferRole::kPersistent, {5}),
                 Buffer("y", BufferRole::kOutput, {4, 5}, 64),
                 Buffer("kiln.rng", BufferRole::kInput, {}, 0, ElementType::kI64),
                 Buffer("loss", BufferRole::kOutput, {}, 0)};
  EntrySpec small = big;
  small.symbol = "m_b2";
  small.batch_size = 2;
  small.arena_bytes = 128;
  small.buffers[0] = Buffer("x", BufferRole::kInput, {2, 3});
  small.buffers[3] = Buffer("y", BufferRole::kOutput, {2, 5}, 64);
  spec.entries = {big, small};
  return spec;
}

DeviceKernel Kernel(std::string symbol, std::vector<int> slots) {
  return {.symbol = std::move(symbol), .param_slots = std::move(slots), .grid = {1, 1, 1},
          .block = {256, 1, 1}};
}

DeviceProgram TwoEntryProgram(int64_t m_big = 4) {
  DeviceProgram program;
  for (int64_t m : {m_big, int64_t{2}}) {
    DeviceEntry entry;
    DeviceKernel matmul = Kernel("k0_matmul_add_relu", {0, 1, 2, 3});
    matmul.gemm = DeviceGemm{.m = m, .n = 5, .k = 3, .a_slot = 0, .b_slot = 1, .c_slot = 3,
                             .bias_slot = 2, .epilogue = LtEpilogue::kBiasRelu};
    entry.kernels = {matmul, Kernel("k1_loss", {3, 4, 5})};
    program.entries.push_back(entry);
  }
  return program;
}

TEST(DevicePlanTest, LaysOutPersistentInputsArenaAndOutputs) {
  absl::StatusOr<DevicePlan> plan = PlanDevice(TwoEntrySpec(), TwoEntryProgram(), true);
  ASSERT_TRUE(plan.ok()) << plan.status();
  // w: 60 bytes at 0, b: 20 bytes at 256, step: 8 bytes at 512; total 768.
  EXPECT_EQ(plan->persistent_offsets, (std::vector<int64_t>{0, 256, 512}));
  EXPECT_EQ(plan->persistent_bytes, 768);
  EXPECT_EQ(plan->arena_bytes, 192);  // The larger entry's arena.
  const EntryPlan& big = plan->entries[0];
  ASSERT_EQ(big.slots.size(), 6u);
  EXPECT_EQ(big.slots[0].place, SlotPlace::kInput);
  EXPECT_EQ(big.slots[0].offset, 0);    // x: 48 bytes.
  EXPECT_EQ(big.slots[4].place, SlotPlace::kInput);
  EXPECT_EQ(big.slots[4].offset, 256);  // kiln.rng after x, 256-aligned.
  EXPECT_EQ(big.input_bytes, 512);
  EXPECT_EQ(big.slots[2].place, SlotPlace::kPersistent);
  EXPECT_EQ(big.slots[2].offset, 256);  // b.
  EXPECT_EQ(big.slots[3].place, SlotPlace::kArena);
  EXPECT_EQ(big.slots[3].offset, 64);
  // Outputs read back: y (80 bytes) at 0, loss at 256.
  EXPECT_EQ(big.outputs, (std::vector<std::pair<int, int64_t>>{{3, 0}, {5, 256}}));
  EXPECT_EQ(big.output_bytes, 512);
  ASSERT_EQ(big.launches.size(), 2u);
  EXPECT_TRUE(big.launches[0].use_cublaslt);
  EXPECT_FALSE(big.launches[1].use_cublaslt);
}

TEST(DevicePlanTest, WithoutCublasLtEveryKernelIsGenerated) {
  absl::StatusOr<DevicePlan> plan = PlanDevice(TwoEntrySpec(), TwoEntryProgram(), false);
  ASSERT_TRUE(plan.ok()) << plan.status();
  for (const EntryPlan& entry : plan->entries) {
    for (const LaunchPlan& launch : entry.launches) EXPECT_FALSE(launch.use_cublaslt);
  }
}

TEST(DevicePlanTest, PacksKernelParametersInSlotOrderFromTheBases) {
  absl::StatusOr<DevicePlan> plan = PlanDevice(TwoEntrySpec(), TwoEntryProgram(), true);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const DeviceBases parity0{.arena = 0x10000, .persistent = 0x20000, .inputs = 0x30000};
  const DeviceBases parity1{.arena = 0x10000, .persistent = 0x20000, .inputs = 0x40000};
  std::vector<uint64_t> a0 = SlotAddresses(plan->entries[0], parity0);
  EXPECT_EQ(a0, (std::vector<uint64_t>{0x30000, 0x20000, 0x20100, 0x10040, 0x30100, 0x10000}));
  std::vector<uint64_t> a1 = SlotAddresses(plan->entries[0], parity1);
  EXPECT_EQ(a1[0], 0x40000u);  // Only inputs move with the parity.
  EXPECT_EQ(a1[1], a0[1]);
  EXPECT_EQ(a1[3], a0[3]);
  const DeviceKernel loss = Kernel("k1_loss", {3, 4, 5});
  EXPECT_EQ(KernelParams(loss, a1), (std::vector<uint64_t>{0x10040, 0x40100, 0x10000}));
}

TEST(DevicePlanTest, RejectsBadPrograms) {
  DeviceProgram out_of_range = TwoEntryProgram();
  out_of_range.entries[1].kernels[1].param_slots = {3, 6};
  EXPECT_NE(PlanDevice(TwoEntrySpec(), out_of_range, true).status().message().find(
                "binds slot 6 but the entry has 6 buffers"),
            std::string::npos);

  DeviceProgram too_many_threads = TwoEntryProgram();
  too_many_threads.entries[0].kernels[1].block = {64, 32, 1};
  EXPECT_NE(PlanDevice(TwoEntrySpec(), too_many_threads, true).status().message().find(
                "2048 threads per block"),
            std::string::npos);

  DeviceProgram zero_grid = TwoEntryProgram();
  zero_grid.entries[0].kernels[0].grid = {0, 1, 1};
  EXPECT_FALSE(PlanDevice(TwoEntrySpec(), zero_grid, true).ok());

  // The cuBLASLt plan says M=3 but x holds 4 rows.
  EXPECT_NE(PlanDevice(TwoEntrySpec(), TwoEntryProgram(3), true).status().message().find(
                "does not match its buffers"),
            std::string::npos);

  ProgramSpec overflow = TwoEntrySpec();
  overflow.entries[1].buffers[3].arena_offset = 96;  // 40 bytes at 96 > 128.
  EXPECT_NE(PlanDevice(overflow, TwoEntryProgram(), true).status().message().find(
                "does not fit the 128-byte arena"),
            std::string::npos);

  ProgramSpec wrong_shape = TwoEntrySpec();
  wrong_shape.persistent[0].shape = {5, 3};
  EXPECT_FALSE(PlanDevice(wrong_shape, TwoEntryProgram(), true).ok());

  DeviceProgram one_entry = TwoEntryProgram();
  one_entry.entries.pop_back();
  EXPECT_FALSE(PlanDevice(TwoEntrySpec(), one_entry, true).ok());

  // An all-reduce must average an f32 buffer the entry computes: not an input, not a parameter.
  DeviceProgram reduces_input = TwoEntryProgram();
  reduces_input.entries[0].kernels[1].all_reduce_slot = 0;
  EXPECT_NE(PlanDevice(TwoEntrySpec(), reduces_input, true).status().message().find(
                "all-reduces 'x' (f32[4,3]), which is not an f32 buffer the entry computes"),
            std::string::npos)
      << PlanDevice(TwoEntrySpec(), reduces_input, true).status();
  DeviceProgram reduces_parameter = TwoEntryProgram();
  reduces_parameter.entries[0].kernels[1].all_reduce_slot = 1;
  EXPECT_FALSE(PlanDevice(TwoEntrySpec(), reduces_parameter, true).ok());
  DeviceProgram reduces_nothing = TwoEntryProgram();
  reduces_nothing.entries[0].kernels[1].all_reduce_slot = 9;
  EXPECT_FALSE(PlanDevice(TwoEntrySpec(), reduces_nothing, true).ok());
  DeviceProgram reduces_output = TwoEntryProgram();
  reduces_output.entries[0].kernels[0].all_reduce_slot = 3;
  EXPECT_TRUE(PlanDevice(TwoEntrySpec(), reduces_output, true).ok());
}

TEST(GraphBookTest, CapturesOncePerEntryAndParityThenReplays) {
  GraphBook book(/*enabled=*/true);
  EXPECT_EQ(book.Next(0, 0), GraphAction::kCapture);
  book.Captured(0, 0);
  EXPECT_EQ(book.Next(0, 0), GraphAction::kReplay);
  EXPECT_EQ(book.Next(0, 1), GraphAction::kCapture);  // The other input block: its own graph.
  EXPECT_EQ(book.Next(1, 0), GraphAction::kCapture);
  book.Captured(0, 1);
  book.CaptureFailed(1, 0);
  EXPECT_EQ(book.Next(1, 0), GraphAction::kEager);  // Never retried.
  EXPECT_EQ(book.captured(), 2);

  GraphBook off(/*enabled=*/false);
  EXPECT_EQ(off.Next(0, 0), GraphAction::kEager);
  EXPECT_EQ(off.captured(), 0);
}

// What cuBLASLt computes, by its definition: column-major D[m,n] = op_a(A)·op_b(B) over the
// layouts (rows, cols, ld describe the stored matrix, before the op), + bias[row], relu.
std::vector<float> ColumnMajorGemm(const LtLayout& lt, const std::vector<std::vector<float>>& slots) {
  auto at = [&](const LtMatrix& matrix, int op, int64_t i, int64_t j) {
    // Element (i, j) of op(matrix).
    const std::vector<float>& data = slots[matrix.slot];
    return op == lt_abi::kOpN ? data[i + j * matrix.ld] : data[j + i * matrix.ld];
  };
  std::vector<float> d(lt.c.ld * lt.n, 0.0f);
  for (int64_t i = 0; i < lt.m; ++i) {
    for (int64_t j = 0; j < lt.n; ++j) {
      double sum = 0.0;
      for (int64_t l = 0; l < lt.k; ++l) {
        sum += static_cast<double>(at(lt.a, lt.trans_a, i, l)) * at(lt.b, lt.trans_b, l, j);
      }
      if (lt.bias_slot >= 0) sum += slots[lt.bias_slot][i];
      if (lt.epilogue == lt_abi::kEpilogueRelu || lt.epilogue == lt_abi::kEpilogueReluBias) {
        sum = std::max(sum, 0.0);
      }
      d[i + j * lt.c.ld] = static_cast<float>(sum);
    }
  }
  return d;
}

class LtLayoutTest : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(LtLayoutTest, ColumnMajorCallComputesTheRowMajorMatmul) {
  const auto [transpose_a, transpose_b] = GetParam();
  constexpr int64_t M = 5, N = 7, K = 3;
  std::mt19937 rng(transpose_a * 2 + transpose_b);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  auto random = [&](int64_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = uniform(rng);
    return v;
  };
  // Slots: 0 A (stored [M,K], or [K,M] when transposed), 1 B ([K,N] or [N,K]), 2 C, 3 bias.
  std::vector<std::vector<float>> slots = {random(M * K), random(K * N), {}, random(N)};
  auto a = [&](int64_t i, int64_t l) {
    return transpose_a ? slots[0][l * M + i] : slots[0][i * K + l];
  };
  auto b = [&](int64_t l, int64_t j) {
    return transpose_b ? slots[1][j * K + l] : slots[1][l * N + j];
  };
  for (LtEpilogue epilogue : {LtEpilogue::kNone, LtEpilogue::kBias, LtEpilogue::kRelu,
                              LtEpilogue::kBiasRelu}) {
    const DeviceGemm gemm{.m = M, .n = N, .k = K, .transpose_a = transpose_a,
                          .transpose_b = transpose_b, .a_slot = 0, .b_slot = 1, .c_slot = 2,
                          .bias_slot = 3, .epilogue = epilogue};
    const LtLayout lt = LtLayoutFor(gemm);
    EXPECT_EQ(lt.m, N);
    EXPECT_EQ(lt.n, M);
    EXPECT_EQ(lt.c.rows * lt.c.cols, M * N);
    const std::vector<float> c = ColumnMajorGemm(lt, slots);  // Read back as row-major [M, N].
    const bool bias = epilogue == LtEpilogue::kBias || epilogue == LtEpilogue::kBiasRelu;
    const bool relu = epilogue == LtEpilogue::kRelu || epilogue == LtEpilogue::kBiasRelu;
    for (int64_t i = 0; i < M; ++i) {
      for (int64_t j = 0; j < N; ++j) {
        double expected = 0.0;
        for (int64_t l = 0; l < K; ++l) expected += static_cast<double>(a(i, l)) * b(l, j);
        if (bias) expected += slots[3][j];
        if (relu) expected = std::max(expected, 0.0);
        EXPECT_NEAR(c[i * N + j], expected, 1e-5) << "i=" << i << " j=" << j;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllTransposes, LtLayoutTest,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool()));

TEST(LtLayoutTest, LeadingDimensionsAreTheStoredRowLengths) {
  const DeviceGemm gemm{.m = 64, .n = 10, .k = 784, .a_slot = 0, .b_slot = 1, .c_slot = 2};
  const LtLayout lt = LtLayoutFor(gemm);
  EXPECT_EQ(lt.a.slot, 1);  // cuBLASLt's A is kiln's B ...
  EXPECT_EQ(lt.a.ld, 10);   // ... [784, 10] row-major: rows of 10.
  EXPECT_EQ(lt.b.slot, 0);
  EXPECT_EQ(lt.b.ld, 784);  // x [64, 784].
  EXPECT_EQ(lt.c.ld, 10);
  EXPECT_EQ(lt.trans_a, lt_abi::kOpN);
  EXPECT_EQ(lt.trans_b, lt_abi::kOpN);
  EXPECT_EQ(lt.bias_slot, -1);
}

// codegen/cuda -> runtime: only representable plans become cuBLASLt matmuls.
TEST(ToDeviceGemmTest, KeepsRepresentablePlansOnly) {
  cuda::GemmPlan plan{.m = 4, .n = 5, .k = 3, .transpose_a = true, .a_slot = 0, .b_slot = 1,
                      .c_slot = 2, .bias_slot = 3, .epilogue = cuda::GemmEpilogue::kBiasRelu,
                      .cublaslt_representable = true};
  std::optional<DeviceGemm> gemm = cuda::ToDeviceGemm(plan);
  ASSERT_TRUE(gemm.has_value());
  EXPECT_EQ(gemm->epilogue, LtEpilogue::kBiasRelu);
  EXPECT_TRUE(gemm->transpose_a);
  EXPECT_EQ(gemm->bias_slot, 3);
  plan.cublaslt_representable = false;
  EXPECT_FALSE(cuda::ToDeviceGemm(plan).has_value());
}

}  // namespace
}  // namespace kiln::runtime
