// Every op on the GPU against the CPU backend (label `gpu`; skips without a device). Each case of
// the shared op table (tests/codegen/op_cases.h) is built as its gradient graph — the op's result
// "y", loss = sum(y * w) and the gradient of every differentiable operand — compiled once by the
// real pipeline, run by the CPU backend (GraphRunner) and by the CUDA executor from the same
// kernel program and the same parameters and inputs, and the two compared element by element
// within 1e-4 relative (to max(1, |cpu|)).
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "codegen/cuda/cuda_backend.h"
#include "gtest/gtest.h"
#include "ir/op_registry.h"
#include "runtime/cuda/cuda_driver.h"
#include "runtime/cuda/cuda_executable.h"
#include "support/status.h"
#include "tests/codegen/cuda/gpu_test_support.h"
#include "tests/codegen/op_cases.h"
#include "tools/graph_runner.h"

namespace kiln::runtime {
namespace {

using op_cases::GradCase;

// Runs the CPU runner's program on the device with the runner's current parameters and inputs;
// returns `names` (outputs) as doubles.
absl::StatusOr<std::map<std::string, std::vector<double>>> RunOnCuda(
    CudaContext& context, tools::GraphRunner& runner, const std::vector<std::string>& names,
    bool use_graphs) {
  KILN_ASSIGN_OR_RETURN(DeviceProgram device,
                        cuda::BuildDeviceProgram({&runner.program()}, {"graph_runner_entry"},
                                                 cuda::NvrtcOptions()));
  KILN_ASSIGN_OR_RETURN(
      auto gpu, CudaExecutable::Create(context, runner.executable(), std::move(device),
                                       CudaExecutableOptions{.use_graphs = use_graphs}));
  KILN_ASSIGN_OR_RETURN(int entry, gpu->FindEntry(true, 0));
  const Entry& cpu_entry = runner.entry();
  for (const BufferSpec& b : cpu_entry.spec().buffers) {
    if (b.role != BufferRole::kInput) continue;
    KILN_ASSIGN_OR_RETURN(BufferView cpu_view, cpu_entry.Input(b.name));
    KILN_ASSIGN_OR_RETURN(void* staged, gpu->StagedInput(entry, 0, b.name));
    std::memcpy(staged, cpu_view.data, b.bytes);
  }
  KILN_RETURN_IF_ERROR(gpu->Launch(entry, 0));
  KILN_RETURN_IF_ERROR(gpu->Wait(entry, 0));
  std::map<std::string, std::vector<double>> results;
  for (const std::string& name : names) {
    const std::string buffer = runner.OutputBuffer(name);
    KILN_ASSIGN_OR_RETURN(std::vector<char> bytes, gpu->ReadBuffer(entry, buffer));
    KILN_ASSIGN_OR_RETURN(BufferView cpu_view, cpu_entry.Buffer(buffer));
    std::vector<double>& values = results[name];
    const int64_t n = cpu_view.num_elements();
    if (static_cast<int64_t>(bytes.size()) < n * 4) {
      return absl::InternalError(absl::StrCat(name, ": device buffer too small"));
    }
    for (int64_t i = 0; i < n; ++i) {
      if (cpu_view.spec->type == ElementType::kI64) {
        int64_t v;
        std::memcpy(&v, bytes.data() + 8 * i, 8);
        values.push_back(static_cast<double>(v));
      } else {
        float v;
        std::memcpy(&v, bytes.data() + 4 * i, 4);
        values.push_back(v);
      }
    }
  }
  return results;
}

class CudaOpsGpuTest
    : public runtime::testing::WithGpu<::testing::TestWithParam<std::string>> {
 protected:

  void CompareCase(const GradCase& c, bool use_graphs) {
    auto built = op_cases::BuildCaseGraph(c, /*seed=*/3, /*output_y=*/true);
    ASSERT_TRUE(built.ok()) << built.status();
    std::vector<std::string> names = {"y", "loss"};
    for (size_t i = 0; i < built->params.size(); ++i) names.push_back(absl::StrCat("grad_", i));
    auto feeds = built->feeds;
    auto runner = tools::GraphRunner::Compile(std::move(built->graph));
    ASSERT_TRUE(runner.ok()) << runner.status();
    for (const auto& [name, values] : feeds) ASSERT_TRUE((*runner)->Set(name, values).ok()) << name;
    ASSERT_TRUE((*runner)->Run().ok());
    std::map<std::string, std::vector<double>> cpu;
    for (const std::string& name : names) {
      auto values = (*runner)->Read((*runner)->OutputBuffer(name));
      if (!values.ok()) values = (*runner)->Read(name);
      ASSERT_TRUE(values.ok()) << name << ": " << values.status();
      cpu[name] = *values;
    }
    auto gpu = RunOnCuda(*context_, **runner, names, use_graphs);
    ASSERT_TRUE(gpu.ok()) << gpu.status();
    for (const std::string& name : names) {
      const std::vector<double>& want = cpu[name];
      const std::vector<double>& got = (*gpu)[name];
      ASSERT_EQ(want.size(), got.size()) << name;
      int bad = 0;
      for (size_t i = 0; i < want.size(); ++i) {
        const double tolerance = 1e-4 * std::max(1.0, std::fabs(want[i]));
        if (!(std::fabs(want[i] - got[i]) <= tolerance) && ++bad <= 4) {
          ADD_FAILURE() << name << "[" << i << "]: cpu " << want[i] << " cuda " << got[i];
        }
      }
      EXPECT_EQ(bad, 0) << name;
    }
  }

};

TEST_P(CudaOpsGpuTest, ForwardAndGradientsMatchTheCpu) {
  const std::string& op = GetParam();
  const ir::OpDef* def = ir::OpRegistry::Global().Find(op);
  ASSERT_NE(def, nullptr);
  if (def->Has(ir::kLeaf)) GTEST_SKIP() << op << " is a leaf";
  if (op_cases::ExemptOps().count(op)) GTEST_SKIP() << op << ": " << op_cases::ExemptOps().at(op);
  const auto by_op = op_cases::CasesByOp();
  ASSERT_TRUE(by_op.count(op)) << "no case for op '" << op << "'";
  for (const GradCase& c : by_op.at(op)) {
    for (bool graphs : {false, true}) {
      SCOPED_TRACE(absl::StrCat(op, "/", c.label, graphs ? " (CUDA graph)" : ""));
      CompareCase(c, graphs);
    }
  }
}

// The op table's shapes are small; these take the strategies only large shapes get: few long
// reductions (a cluster of blocks per row or column chunk) and float4 elementwise kernels
// (the gradient graphs' broadcasts and products of 4096 to 327680 elements).
TEST_F(CudaOpsGpuTest, LargeShapesMatchTheCpu) {
  using op_cases::Domain;
  auto reduce = [](std::vector<int64_t> dims) {
    return ir::Attrs{{"dims", std::move(dims)}, {"keepdim", int64_t{0}}};
  };
  const std::vector<GradCase> cases = {
      {"reduce_sum", "columns_of_8192_rows", {{{8192, 40}}}, reduce({0})},
      {"reduce_sum", "columns_of_a_rank3_range", {{{64, 128, 12}}}, reduce({0, 1})},
      {"reduce_max", "columns_of_4100_rows", {{{4100, 33}, Domain::kDistinct}}, reduce({0})},
      {"reduce_sum", "long_rows", {{{4, 8192}}}, reduce({1})},
      {"reduce_sum", "whole_tensor", {{{128, 64}}}, reduce({0, 1})},
      {"reduce_max", "long_rows", {{{2, 5000}, Domain::kDistinct}}, reduce({-1})},
      {"mul", "elementwise_x4", {{{512, 64}}, {{512, 64}}}, {}},
  };
  for (const GradCase& c : cases) {
    for (bool graphs : {false, true}) {
      SCOPED_TRACE(absl::StrCat(c.op, "/", c.label, graphs ? " (CUDA graph)" : ""));
      CompareCase(c, graphs);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(EveryOp, CudaOpsGpuTest,
                         ::testing::ValuesIn(ir::OpRegistry::Global().Names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace kiln::runtime
