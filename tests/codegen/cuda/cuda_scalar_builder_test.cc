// CudaScalarBuilder: the exact text of the operations whose bits matter, and the meaning of that
// text (through a small interpreter) against the host ConstantEvaluator, which mirrors the CPU.
#include "codegen/cuda/cuda_scalar_builder.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

#include "codegen/cuda/nvrtc_compiler.h"
#include "gtest/gtest.h"
#include "ir/op_registry.h"
#include "passes/constant_evaluator.h"
#include "tests/codegen/cuda/cuda_test_util.h"

namespace kiln::cuda {
namespace {

using kernel::ScalarType;
using kernel::Value;
using testing::Scalar;

TEST(CudaScalarBuilderTest, IntegerOpsWrapThroughUnsigned) {
  CudaScalarBuilder b("");
  Value x = b.Emit(ScalarType::kI64, "x");
  Value y = b.Emit(ScalarType::kI64, "y");
  b.IAdd(x, y);
  b.IMul(x, y);
  b.IXor(x, y);
  b.IShrU(x, 30);
  EXPECT_EQ(b.TakeCode(),
            "const long long v0 = x;\n"
            "const long long v1 = y;\n"
            "const long long v2 = (long long)((unsigned long long)v0 + (unsigned long long)v1);\n"
            "const long long v3 = (long long)((unsigned long long)v0 * (unsigned long long)v1);\n"
            "const long long v4 = v0 ^ v1;\n"
            "const long long v5 = (long long)((unsigned long long)v0 >> 30);\n");
}

TEST(CudaScalarBuilderTest, FloatOpsUsePreciseMath) {
  CudaScalarBuilder b("  ");
  Value x = b.Emit(ScalarType::kF32, "x");
  b.Exp(x);
  b.Log(x);
  b.Sqrt(x);
  b.Pow(x, x);
  std::string code = b.TakeCode();
  EXPECT_NE(code.find("expf(v0)"), std::string::npos);
  EXPECT_NE(code.find("logf(v0)"), std::string::npos);
  EXPECT_NE(code.find("sqrtf(v0)"), std::string::npos);
  EXPECT_NE(code.find("powf(v0, v0)"), std::string::npos);
  EXPECT_EQ(code.find("__expf"), std::string::npos);  // No fast-math intrinsics.
}

TEST(CudaScalarBuilderTest, LiteralsAreExact) {
  EXPECT_EQ(CudaScalarBuilder::FloatLiteral(1.0f), "0x1p+0f");
  EXPECT_EQ(CudaScalarBuilder::FloatLiteral(0.1f), "0x1.99999ap-4f");
  EXPECT_EQ(CudaScalarBuilder::FloatLiteral(-std::numeric_limits<float>::infinity()),
            "__int_as_float(0xff800000)");
  EXPECT_EQ(CudaScalarBuilder::I64Literal(std::numeric_limits<int64_t>::min()),
            "(long long)0x8000000000000000ull");
  CudaScalarBuilder b("");
  b.ConstI64(static_cast<int64_t>(0xbf58476d1ce4e5b9ULL));
  b.ConstI64(-5);
  EXPECT_EQ(b.TakeCode(),
            "const long long v0 = (long long)0xbf58476d1ce4e5b9ull;\n"
            "const long long v1 = -5ll;\n");
}

TEST(CudaScalarBuilderTest, CastsAndComparisons) {
  CudaScalarBuilder b("");
  Value x = b.Emit(ScalarType::kF32, "x");
  Value i = b.Emit(ScalarType::kI64, "i");
  Value gt = b.CmpGT(x, x);
  b.Cast(gt, ScalarType::kF32);
  b.Cast(i, ScalarType::kF32);
  b.Cast(x, ScalarType::kI64);
  b.Cast(x, ScalarType::kBool);
  EXPECT_EQ(b.TakeCode(),
            "const float v0 = x;\n"
            "const long long v1 = i;\n"
            "const bool v2 = v0 > v0;\n"
            "const float v3 = v2 ? 1.0f : 0.0f;\n"
            "const float v4 = (float)v1;\n"
            "const long long v5 = (long long)v0;\n"
            "const bool v6 = v0 != 0.0f;\n");
}

// random_uniform's element formula (the dropout mask) through both builders, for keys and
// coordinates that overflow every multiply: the CUDA text must give the host's bits exactly.
TEST(CudaScalarBuilderTest, RandomUniformHashMatchesHostEvaluatorBitForBit) {
  ir::Node node;
  node.op = "random_uniform";
  node.attrs.Set("salt", int64_t{3});
  node.type = ir::TensorType{ir::DType::kF32, {64, 256}};
  const ir::OpDef& def = ir::OpOf(node);

  CudaScalarBuilder cuda("");
  std::vector<Value> cuda_coords = {cuda.Emit(ScalarType::kI64, "c0"),
                                    cuda.Emit(ScalarType::kI64, "c1")};
  Value cuda_key = cuda.Emit(ScalarType::kI64, "key");
  Value cuda_result =
      def.emit_element(cuda, ir::ElementInputs{std::span(&cuda_key, 1), cuda_coords, node});
  const std::string code = cuda.TakeCode();

  int checked = 0;
  for (int64_t key : {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{123456789},
                      std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()}) {
    for (auto [c0, c1] : {std::pair<int64_t, int64_t>{0, 0}, {0, 1}, {17, 200}, {63, 255}}) {
      passes::ConstantEvaluator host;
      Value key_value = host.ConstI64(key);
      std::vector<Value> coords = {host.MakeCoordinate(c0), host.MakeCoordinate(c1)};
      float expected =
          host.F32(def.emit_element(host, ir::ElementInputs{std::span(&key_value, 1), coords, node}));
      auto values = testing::Interpret(code, {{"c0", {Scalar::kI64, 0, c0}},
                                              {"c1", {Scalar::kI64, 0, c1}},
                                              {"key", {Scalar::kI64, 0, key}}});
      ASSERT_TRUE(values.ok()) << values.status() << "\n" << code;
      float got = values->at(cuda.Name(cuda_result)).f32;
      EXPECT_EQ(std::bit_cast<uint32_t>(got), std::bit_cast<uint32_t>(expected))
          << "key " << key << " at (" << c0 << ", " << c1 << ")";
      EXPECT_GE(got, 0.0f);
      EXPECT_LT(got, 1.0f);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 24);
}

// Max and Min propagate NaN from either side in both, as torch.maximum/minimum (fmaxf would not).
TEST(CudaScalarBuilderTest, MaxAndMinOfNaNAreNaNLikeTheHost) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (float x_value : {nan, 3.0f, 1.0f}) {
    for (float y_value : {nan, 2.0f}) {
      CudaScalarBuilder cuda("");
      Value x = cuda.Emit(ScalarType::kF32, "x");
      Value y = cuda.Emit(ScalarType::kF32, "y");
      Value max = cuda.Max(x, y);
      Value min = cuda.Min(x, y);
      std::string code = cuda.TakeCode();
      EXPECT_EQ(code.find("fmaxf"), std::string::npos) << code;
      auto values = testing::Interpret(
          code, {{"x", {Scalar::kF32, x_value}}, {"y", {Scalar::kF32, y_value}}});
      ASSERT_TRUE(values.ok()) << values.status();
      passes::ConstantEvaluator host;
      Value hx = host.ConstF32(x_value), hy = host.ConstF32(y_value);
      const bool any_nan = std::isnan(x_value) || std::isnan(y_value);
      for (auto [cuda_value, host_value, want] :
           {std::tuple{max, host.Max(hx, hy), std::max(x_value, y_value)},
            std::tuple{min, host.Min(hx, hy), std::min(x_value, y_value)}}) {
        const float got = values->at(cuda.Name(cuda_value)).f32;
        if (any_nan) {
          EXPECT_TRUE(std::isnan(got)) << x_value << " " << y_value << "\n" << code;
          EXPECT_TRUE(std::isnan(host.F32(host_value)));
        } else {
          EXPECT_EQ(got, want);
          EXPECT_EQ(host.F32(host_value), want);
        }
      }
    }
  }
}

// The same formula compiles cleanly for sm_90 (no GPU needed).
TEST(CudaScalarBuilderTest, HashKernelCompilesWithNvrtc) {
  ir::Node node;
  node.op = "random_uniform";
  node.attrs.Set("salt", int64_t{1});
  node.type = ir::TensorType{ir::DType::kF32, {1024}};
  CudaScalarBuilder cuda("    ");
  std::vector<Value> coords = {cuda.Emit(ScalarType::kI64, "i")};
  Value key = cuda.Emit(ScalarType::kI64, "key");
  Value u = ir::OpOf(node).emit_element(cuda, ir::ElementInputs{std::span(&key, 1), coords, node});
  std::string source = "extern \"C\" __global__ void hash(long long key, float* out) {\n"
                       "  const long long i = blockIdx.x * blockDim.x + threadIdx.x;\n"
                       "  if (i < 1024) {\n" +
                       cuda.TakeCode() + "    out[i] = " + cuda.Name(u) + ";\n  }\n}\n";
  NvrtcOptions options;
  options.use_cache = false;
  options.warnings_as_errors = true;
  auto compiled = CompileCuda(source, options, "hash.cu");
  ASSERT_TRUE(compiled.ok()) << compiled.status() << "\n" << source;
  EXPECT_TRUE(compiled->is_cubin);
  EXPECT_NE(compiled->binary.find("hash"), std::string::npos);
}

}  // namespace
}  // namespace kiln::cuda
