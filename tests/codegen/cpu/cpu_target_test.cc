// Code for a chosen CPU (--cpu): target machines for native and the generic x86-64 levels, the
// vector ISA the GEMM is blocked for, the assembly of a whole model per level, the JIT refusing a
// CPU this machine cannot run, and a JIT run computing the same bits as the object file for the
// same CPU (what ahead-of-time builds rely on).
#include <cstring>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "codegen/backend.h"
#include "codegen/cpu/cpu_backend.h"
#include "codegen/cpu/jit.h"
#include "codegen/cpu/llvm_target.h"
#include "codegen/cpu/vector_isa.h"
#include "frontend/frontend.h"
#include "gtest/gtest.h"
#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/TargetParser/Host.h"
#include "runtime/executable.h"
#include "runtime/thread_pool.h"
#include "runtime/trainer.h"
#include "support/status.h"
#include "tools/compile_pipeline.h"

namespace kiln::cpu {
namespace {

// examples/fashion_mlp.kiln (W3's MLP) with one entry at batch 8.
absl::StatusOr<codegen::CompiledModel> FashionMlp(bool training) {
  KILN_ASSIGN_OR_RETURN(frontend::ModelAst ast,
                        frontend::ParseModelFile("examples/fashion_mlp.kiln"));
  KILN_ASSIGN_OR_RETURN(ir::TrainConfig train, frontend::LowerTrainConfig(ast));
  tools::CompileOptions options;
  options.entries = {{training, 8}};
  return tools::CompileModel(ast, train, options);
}

bool HostLacks(const std::string& cpu) {
  auto target = CreateTargetMachine(cpu);
  return target.ok() && !MissingHostFeatures(**target).empty();
}

TEST(CpuTargetTest, NativeAndHostAreThisMachine) {
  for (const std::string cpu : {"native", "host"}) {
    auto target = CreateTargetMachine(cpu);
    ASSERT_TRUE(target.ok()) << target.status();
    EXPECT_EQ((*target)->getTargetCPU(), llvm::sys::getHostCPUName()) << cpu;
    EXPECT_TRUE(MissingHostFeatures(**target).empty()) << cpu;
    EXPECT_TRUE(CheckRunsOnHost(**target).ok()) << cpu;
  }
}

TEST(CpuTargetTest, UnknownCpuIsOneLineListingTheGenericNames) {
  auto target = CreateTargetMachine("pentium9000");
  ASSERT_FALSE(target.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(target.status()));
  const std::string message(target.status().message());
  EXPECT_NE(message.find("unknown CPU 'pentium9000'"), std::string::npos) << message;
  EXPECT_NE(message.find("native, x86-64-v2, x86-64-v3, x86-64-v4"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST(CpuTargetTest, VectorIsaFollowsTheCpu) {
  struct Want {
    std::string cpu;
    int lanes, registers;
    bool fma;
  };
  for (const Want& want : {Want{"x86-64-v2", 4, 16, false}, Want{"x86-64-v3", 8, 16, true},
                           Want{"x86-64-v4", 16, 32, true}, Want{"haswell", 8, 16, true},
                           Want{"znver3", 8, 16, true}, Want{"skylake-avx512", 16, 32, true}}) {
    auto target = CreateTargetMachine(want.cpu);
    ASSERT_TRUE(target.ok()) << target.status();
    const VectorIsa isa = VectorIsaOf(**target);
    EXPECT_EQ(isa.lanes, want.lanes) << want.cpu;
    EXPECT_EQ(isa.registers, want.registers) << want.cpu;
    EXPECT_EQ(isa.fma, want.fma) << want.cpu;
  }
}

// Running code for a CPU with features this machine lacks would die of SIGILL: the JIT refuses
// it in one line that names them.
TEST(CpuTargetTest, JitRefusesACpuThisMachineCannotRun) {
  if (!HostLacks("x86-64-v4")) GTEST_SKIP() << "this machine runs x86-64-v4 code";
  auto target = CreateTargetMachine("x86-64-v4");
  ASSERT_TRUE(target.ok()) << target.status();
  auto jit = CpuJit::Create(**target);
  ASSERT_FALSE(jit.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(jit.status()));
  const std::string message(jit.status().message());
  EXPECT_NE(message.find("'x86-64-v4'"), std::string::npos) << message;
  EXPECT_NE(message.find("avx512f"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;

  auto model = FashionMlp(/*training=*/true);
  ASSERT_TRUE(model.ok()) << model.status();
  CpuBackend backend;
  auto loaded = backend.Load(*model, {.seed = 1, .threads = 1, .cpu = "x86-64-v4"});
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("avx512f"), std::string::npos) << loaded.status();
}

// The whole W3 model's assembly uses the registers of the CPU it was built for, whatever
// this machine has.
TEST(CpuTargetTest, ModelAssemblyUsesTheCpusRegisters) {
  auto model = FashionMlp(/*training=*/true);
  ASSERT_TRUE(model.ok()) << model.status();
  CpuBackend backend;
  auto assembly_for = [&](const std::string& cpu) {
    auto assembly = backend.Emit(*model, "asm", {.cpu = cpu});
    EXPECT_TRUE(assembly.ok()) << assembly.status();
    return assembly.ok() ? *assembly : std::string();
  };
  const std::regex zmm("%zmm[0-9]"), ymm("%ymm[0-9]"), xmm("%xmm[0-9]");
  const std::string v4 = assembly_for("x86-64-v4");
  EXPECT_TRUE(std::regex_search(v4, zmm)) << "x86-64-v4: no zmm";
  const std::string v3 = assembly_for("x86-64-v3");
  EXPECT_TRUE(std::regex_search(v3, ymm)) << "x86-64-v3: no ymm";
  EXPECT_FALSE(std::regex_search(v3, zmm)) << "x86-64-v3: zmm";
  const std::string v2 = assembly_for("x86-64-v2");
  EXPECT_TRUE(std::regex_search(v2, xmm)) << "x86-64-v2: no xmm";
  EXPECT_FALSE(std::regex_search(v2, ymm)) << "x86-64-v2: ymm";
  EXPECT_FALSE(std::regex_search(v2, zmm)) << "x86-64-v2: zmm";
  EXPECT_FALSE(backend.Emit(*model, "asm", {.cpu = "pentium9000"}).ok());
}

// Resolves symbols in an object file loaded into a plain ORC JIT: a stand-in for the linker of
// an ahead-of-time build, which gets the same bytes.
class ObjectFileLibrary : public runtime::KernelLibrary {
 public:
  static absl::StatusOr<std::unique_ptr<ObjectFileLibrary>> Create(const std::string& object) {
    auto jit = llvm::orc::LLJITBuilder().create();
    if (!jit) return absl::InternalError(llvm::toString(jit.takeError()));
    auto process = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
        (*jit)->getDataLayout().getGlobalPrefix());
    if (!process) return absl::InternalError(llvm::toString(process.takeError()));
    (*jit)->getMainJITDylib().addGenerator(std::move(*process));
    if (llvm::Error error = (*jit)->addObjectFile(llvm::MemoryBuffer::getMemBufferCopy(object))) {
      return absl::InternalError(llvm::toString(std::move(error)));
    }
    auto library = std::make_unique<ObjectFileLibrary>();
    library->jit_ = std::move(*jit);
    return library;
  }

  absl::StatusOr<KilnEntryFn> Resolve(const std::string& symbol) override {
    auto address = jit_->lookup(symbol);
    if (!address) return absl::NotFoundError(llvm::toString(address.takeError()));
    return address->toPtr<KilnEntryFn>();
  }

 private:
  std::unique_ptr<llvm::orc::LLJIT> jit_;
};

// Three training steps on deterministic inputs with a learning rate that moves the weights.
absl::Status RunSteps(runtime::Executable& executable) {
  runtime::ThreadPool pool(1);
  KILN_ASSIGN_OR_RETURN(runtime::Entry * step, executable.FindEntry(/*training=*/true, 8));
  KILN_RETURN_IF_ERROR(codegen::FillProfileInputs(*step));
  KILN_ASSIGN_OR_RETURN(runtime::BufferView lr, step->Input(runtime::kLearningRateInput));
  lr.f32()[0] = 1e-2f;
  for (int i = 0; i < 3; ++i) step->Run(pool.parallel());
  return absl::OkStatus();
}

class JitMatchesObjectTest : public ::testing::TestWithParam<std::string> {};

TEST_P(JitMatchesObjectTest, SameBitsAfterTrainingSteps) {
  const std::string cpu = GetParam();
  if (HostLacks(cpu)) GTEST_SKIP() << "this machine cannot run " << cpu << " code";
  auto model = FashionMlp(/*training=*/true);
  ASSERT_TRUE(model.ok()) << model.status();
  auto module = EmitCpuModule(*model, cpu);
  ASSERT_TRUE(module.ok()) << module.status();
  auto object = EmitModule(*module->module, *module->target, OutputKind::kObject);
  ASSERT_TRUE(object.ok()) << object.status();

  auto jit = CpuJit::Create(*module->target);
  ASSERT_TRUE(jit.ok()) << jit.status();
  ASSERT_TRUE((*jit)->AddModule(std::move(module->module), std::move(module->context)).ok());
  auto from_jit = runtime::Executable::Create(module->spec, **jit, /*seed=*/5);
  ASSERT_TRUE(from_jit.ok()) << from_jit.status();
  auto library = ObjectFileLibrary::Create(*object);
  ASSERT_TRUE(library.ok()) << library.status();
  auto from_object = runtime::Executable::Create(module->spec, **library, /*seed=*/5);
  ASSERT_TRUE(from_object.ok()) << from_object.status();

  ASSERT_TRUE(RunSteps(**from_jit).ok());
  ASSERT_TRUE(RunSteps(**from_object).ok());
  const std::vector<runtime::Tensor>& jit_tensors = (*from_jit)->persistent();
  const std::vector<runtime::Tensor>& object_tensors = (*from_object)->persistent();
  ASSERT_EQ(jit_tensors.size(), object_tensors.size());
  ASSERT_FALSE(jit_tensors.empty());
  for (size_t i = 0; i < jit_tensors.size(); ++i) {
    ASSERT_EQ(jit_tensors[i].bytes(), object_tensors[i].bytes());
    EXPECT_EQ(std::memcmp(jit_tensors[i].data(), object_tensors[i].data(), jit_tensors[i].bytes()),
              0)
        << cpu << ": " << jit_tensors[i].name() << " differs between the JIT and the object file";
  }
  auto jit_loss = (*from_jit)->entries()[0]->Output(runtime::kLossOutput);
  auto object_loss = (*from_object)->entries()[0]->Output(runtime::kLossOutput);
  ASSERT_TRUE(jit_loss.ok() && object_loss.ok());
  EXPECT_EQ(std::memcmp(jit_loss->data, object_loss->data, sizeof(float)), 0) << cpu;
}

INSTANTIATE_TEST_SUITE_P(Cpus, JitMatchesObjectTest,
                         ::testing::Values("native", "x86-64-v2", "x86-64-v3", "x86-64-v4"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

}  // namespace
}  // namespace kiln::cpu
