// Needs a GPU (label `gpu`); skips cleanly when ProbeCudaDevice fails. Runs generated code on the
// device and compares with the host evaluator, which mirrors the CPU backend bit for bit.
#include <bit>
#include <cstring>

#include "codegen/cuda/cuda_scalar_builder.h"
#include "codegen/cuda/nvrtc_compiler.h"
#include "gtest/gtest.h"
#include "ir/op_registry.h"
#include "passes/constant_evaluator.h"
#include "runtime/cuda/cuda_driver.h"
#include "tests/codegen/cuda/gpu_test_support.h"

namespace kiln::cuda {
namespace {

using kernel::ScalarType;
using kernel::Value;

class CudaGpuTest : public runtime::testing::WithGpu<> {};

// The dropout hash on the device equals the host's, for every element of a [64, 256] mask.
TEST_F(CudaGpuTest, RandomUniformMatchesHostBitForBit) {
  constexpr int64_t kRows = 64, kCols = 256;
  ir::Node node;
  node.op = "random_uniform";
  node.attrs.Set("salt", int64_t{2});
  node.type = ir::TensorType{ir::DType::kF32, {kRows, kCols}};
  const ir::OpDef& def = ir::OpOf(node);
  CudaScalarBuilder cuda("    ");
  std::vector<Value> coords = {cuda.Emit(ScalarType::kI64, "i / 256"),
                               cuda.Emit(ScalarType::kI64, "i % 256")};
  Value key = cuda.Emit(ScalarType::kI64, "key");
  Value u = def.emit_element(cuda, ir::ElementInputs{std::span(&key, 1), coords, node});
  std::string source = "extern \"C\" __global__ void hash(long long key, float* out) {\n"
                       "  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;\n"
                       "  if (i < 16384) {\n" + cuda.TakeCode() + "    out[i] = " +
                       cuda.Name(u) + ";\n  }\n}\n";
  NvrtcOptions options;
  options.warnings_as_errors = true;
  auto image = CompileCuda(source, options, "hash.cu");
  ASSERT_TRUE(image.ok()) << image.status();
  auto module = context_->LoadModule(image->binary);
  ASSERT_TRUE(module.ok()) << module.status();
  auto function = module->Function("hash");
  ASSERT_TRUE(function.ok()) << function.status();
  auto out = context_->Allocate(kRows * kCols * 4);
  ASSERT_TRUE(out.ok()) << out.status();
  long long key_value = -3141592653589793238ll;
  runtime::CudaDevicePtr out_ptr = *out;
  ASSERT_TRUE(context_->Launch(*function, {64, 1, 1}, {256, 1, 1}, 0, {&key_value, &out_ptr}).ok());
  ASSERT_TRUE(context_->Synchronize().ok());
  std::vector<float> device(kRows * kCols);
  ASSERT_TRUE(context_->CopyToHost(device.data(), *out, kRows * kCols * 4).ok());
  ASSERT_TRUE(context_->Free(*out).ok());
  int mismatches = 0;
  for (int64_t r = 0; r < kRows; ++r) {
    for (int64_t c = 0; c < kCols; ++c) {
      passes::ConstantEvaluator host;
      Value k = host.ConstI64(key_value);
      std::vector<Value> at = {host.MakeCoordinate(r), host.MakeCoordinate(c)};
      float expected = host.F32(def.emit_element(host, ir::ElementInputs{std::span(&k, 1), at, node}));
      if (std::bit_cast<uint32_t>(expected) != std::bit_cast<uint32_t>(device[r * kCols + c])) {
        ++mismatches;
      }
    }
  }
  EXPECT_EQ(mismatches, 0);
}

}  // namespace
}  // namespace kiln::cuda
