// The backend registry and the CPU backend through the Backend interface alone, as the commands
// use them.
#include "tools/backend_registry.h"

#include <set>
#include <string>

#include "frontend/frontend.h"
#include "gtest/gtest.h"
#include "support/status.h"
#include "tools/compile_pipeline.h"

namespace kiln::tools {
namespace {

TEST(BackendRegistryTest, FindsTheCpuBackend) {
  absl::StatusOr<const codegen::Backend*> cpu = FindBackend("cpu");
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  EXPECT_EQ((*cpu)->name(), "cpu");
  EXPECT_EQ(Backends().front(), *cpu);
}

TEST(BackendRegistryTest, UnknownDeviceListsTheBackends) {
  absl::StatusOr<const codegen::Backend*> tpu = FindBackend("tpu");
  ASSERT_FALSE(tpu.ok());
  EXPECT_EQ(tpu.status().message(), "--device must be one of cpu, cuda, got 'tpu'");
}

TEST(BackendRegistryTest, CudaWithoutADeviceSaysSoInOneLine) {
  absl::StatusOr<const codegen::Backend*> cuda = FindBackend("cuda");
  if (cuda.ok()) GTEST_SKIP() << "this machine has a usable CUDA device";
  const std::string message(cuda.status().message());
  EXPECT_EQ(message.rfind("--device cuda: ", 0), 0u) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST(BackendRegistryTest, EachEmitFormatBelongsToOneBackend) {
  std::set<std::string> seen;
  for (const codegen::Backend* backend : Backends()) {
    for (const codegen::EmitFormat& format : backend->emit_formats()) {
      EXPECT_TRUE(seen.insert(format.name).second) << format.name << " is emitted twice";
      EXPECT_EQ(BackendEmitting(format.name), backend) << format.name;
      EXPECT_FALSE(format.summary.empty()) << format.name;
    }
  }
  EXPECT_NE(BackendEmitting("obj"), nullptr);
  EXPECT_EQ(BackendEmitting("summary"), nullptr);  // Graph views are not generated code.
}

// A model small enough to compile in a second, through the interface the commands use.
absl::StatusOr<CompiledModel> SmallModel(bool training) {
  KILN_ASSIGN_OR_RETURN(frontend::ModelAst ast, frontend::ParseModelFile("examples/fashion_mlp.kiln"));
  KILN_ASSIGN_OR_RETURN(ir::TrainConfig train, frontend::LowerTrainConfig(ast));
  CompileOptions options;
  options.entries = {{training, 8}};
  return CompileModel(ast, train, options);
}

TEST(CpuBackendTest, ProfilesEveryKernelOfTheStep) {
  absl::StatusOr<CompiledModel> model = SmallModel(/*training=*/true);
  ASSERT_TRUE(model.ok()) << model.status();
  absl::StatusOr<const codegen::Backend*> cpu = FindBackend("cpu");
  ASSERT_TRUE(cpu.ok());
  auto loaded = (*cpu)->Load(*model, {.seed = 3, .threads = 1});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->Describe(), "1 threads");
  auto profile = (*loaded)->Profile(/*training=*/true, 8, /*iterations=*/10);
  ASSERT_TRUE(profile.ok()) << profile.status();
  EXPECT_GT(profile->step_microseconds, 0.0);
  const std::vector<runtime::KernelSpec>& specs =
      (*loaded)->host().entries()[0]->spec().kernels;
  ASSERT_EQ(profile->kernels.size(), specs.size());
  int timed_in_step = 0;
  for (size_t k = 0; k < specs.size(); ++k) {
    const codegen::KernelTiming& kernel = profile->kernels[k];
    EXPECT_GT(kernel.microseconds, 0.0) << kernel.name;
    EXPECT_GT(kernel.bytes, 0.0) << kernel.name;
    // Kernels the step hands to the thread pool are timed inside it too; serial ones are not.
    if (specs[k].parallel) {
      EXPECT_GT(kernel.in_step_microseconds, 0.0) << kernel.name;
      ++timed_in_step;
    } else {
      EXPECT_LT(kernel.in_step_microseconds, 0.0) << kernel.name;
    }
  }
  EXPECT_GT(timed_in_step, 0);
  // An entry the model was not compiled for is an error, not a crash.
  EXPECT_FALSE((*loaded)->Profile(/*training=*/false, 8, 10).ok());
}

TEST(CpuBackendTest, EmitsEachOfItsFormats) {
  absl::StatusOr<CompiledModel> model = SmallModel(/*training=*/false);
  ASSERT_TRUE(model.ok()) << model.status();
  const codegen::Backend* cpu = BackendEmitting("llvm");
  ASSERT_NE(cpu, nullptr);
  auto llvm = cpu->Emit(*model, "llvm", {});
  ASSERT_TRUE(llvm.ok()) << llvm.status();
  EXPECT_NE(llvm->find("define void @fashion_mlp_eval_b8("), std::string::npos);
  auto object = cpu->Emit(*model, "obj", {});
  ASSERT_TRUE(object.ok()) << object.status();
  EXPECT_EQ(object->substr(0, 4), "\x7f" "ELF");
  EXPECT_FALSE(cpu->Emit(*model, "cuda", {}).ok());
}

}  // namespace
}  // namespace kiln::tools
