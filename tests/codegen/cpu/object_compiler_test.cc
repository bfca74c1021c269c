// The split, parallel, cached CPU compile (object_compiler.h, split_model.h): identical kernels
// compiled once, the same bits whatever the thread count or the cache held, training results
// equal to the one-module compile, and a cache that misses on another CPU and heals a corrupt
// entry.
#include "codegen/cpu/object_compiler.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "codegen/cpu/cpu_backend.h"
#include "codegen/cpu/jit.h"
#include "codegen/cpu/llvm_target.h"
#include "codegen/cpu/split_model.h"
#include "codegen/cpu/vector_isa.h"
#include "frontend/frontend.h"
#include "gtest/gtest.h"
#include "llvm/Support/raw_ostream.h"
#include "runtime/executable.h"
#include "runtime/thread_pool.h"
#include "runtime/trainer.h"
#include "support/status.h"
#include "tools/compile_pipeline.h"

namespace kiln::cpu {
namespace {

// Layers b and c compute the same thing on different buffers: same shapes, same fusion.
constexpr char kTwins[] = R"(
model twins {
  input x: f32[B, 32]
  input y: i64[B]
  h1 = relu(linear(x, 48, name=a))
  h2 = relu(linear(h1, 48, name=b))
  h3 = relu(linear(h2, 48, name=c))
  logp = log_softmax(linear(h3, 10, name=out), dim=1)
  loss = nll_loss(logp, y)
}
train {
  data = fashion_mnist(scale=1/255)
  optimizer = adam(lr=3e-3)
  batch_size = 8
  epochs = 1
  seed = 0
  metrics = [loss]
}
)";

absl::StatusOr<codegen::CompiledModel> Compile(const frontend::ModelAst& ast, bool training) {
  KILN_ASSIGN_OR_RETURN(ir::TrainConfig train, frontend::LowerTrainConfig(ast));
  tools::CompileOptions options;
  options.entries = {{training, 8}};
  return tools::CompileModel(ast, train, options);
}

absl::StatusOr<codegen::CompiledModel> Twins(bool training) {
  KILN_ASSIGN_OR_RETURN(frontend::ModelAst ast, frontend::ParseModel(kTwins, "twins.kiln"));
  return Compile(ast, training);
}

absl::StatusOr<codegen::CompiledModel> FashionMlp() {
  KILN_ASSIGN_OR_RETURN(frontend::ModelAst ast,
                        frontend::ParseModelFile("examples/fashion_mlp.kiln"));
  return Compile(ast, /*training=*/true);
}

std::string FreshDirectory(const std::string& name) {
  std::filesystem::path dir =
      std::filesystem::path(testing::TempDir()) / (name + "." + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

std::string Print(const llvm::Module& module) {
  std::string text;
  llvm::raw_string_ostream os(text);
  module.print(os, nullptr);
  return os.str();
}

TEST(SplitModelTest, IdenticalKernelsShareOneBody) {
  auto model = Twins(/*training=*/false);
  ASSERT_TRUE(model.ok()) << model.status();
  auto target = CreateTargetMachine("x86-64-v3");
  ASSERT_TRUE(target.ok()) << target.status();
  auto split = SplitModelIntoKernels(*model, VectorIsaOf(**target));
  ASSERT_TRUE(split.ok()) << split.status();
  // Forward: a, b, c (matmul + bias + relu each), out, log_softmax... b and c are twins.
  EXPECT_EQ(static_cast<int>(split->bodies.size()), split->num_kernels - 1);

  // Every kernel the runtime resolves is a wrapper in the entry module; b's and c's call the
  // same body, a's another (its K differs).
  const std::string ir = Print(*split->entries);
  auto body_called_by = [&](const std::string& kernel_suffix) -> std::string {
    std::smatch match;
    std::regex wrapper("define void @(eval\\w*" + kernel_suffix +
                       ")\\(ptr %0, i64 %1, i64 %2\\)[^{]*\\{[^}]*call void @(kiln_kernel_\\w+)");
    if (!std::regex_search(ir, match, wrapper)) return "";
    return match[2];
  };
  std::vector<std::string> calls;
  std::regex call("call void @(kiln_kernel_[0-9a-f]{32})\\(");
  for (auto it = std::sregex_iterator(ir.begin(), ir.end(), call); it != std::sregex_iterator();
       ++it) {
    calls.push_back((*it)[1]);
  }
  ASSERT_EQ(static_cast<int>(calls.size()), split->num_kernels) << ir;
  std::vector<std::string> distinct = calls;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  EXPECT_EQ(distinct.size(), split->bodies.size()) << ir;
  // Each body module defines the one function its wrappers call.
  for (const KernelBody& body : split->bodies) {
    EXPECT_NE(std::find(distinct.begin(), distinct.end(), body.name), distinct.end());
    int defined = 0;
    for (const llvm::Function& f : *body.module) {
      if (f.isDeclaration()) continue;
      ++defined;
      EXPECT_EQ(f.getName().str(), body.name);
    }
    EXPECT_EQ(defined, 1);
  }
}

TEST(SplitModelTest, DistinctKernelsAreNotMerged) {
  auto model = FashionMlp();  // 784 -> 256 -> 128 -> 10: no two layers alike.
  ASSERT_TRUE(model.ok()) << model.status();
  auto target = CreateTargetMachine("x86-64-v3");
  ASSERT_TRUE(target.ok()) << target.status();
  auto split = SplitModelIntoKernels(*model, VectorIsaOf(**target));
  ASSERT_TRUE(split.ok()) << split.status();
  std::vector<std::string> names;
  for (const KernelBody& body : split->bodies) {
    for (const llvm::Function& f : *body.module) {
      if (!f.isDeclaration()) names.push_back(f.getName().str());
    }
  }
  EXPECT_EQ(names.size(), split->bodies.size());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::unique(names.begin(), names.end()), names.end());
}

TEST(ObjectCompilerTest, SameBytesWhateverTheThreadCount) {
  auto model = Twins(/*training=*/true);
  ASSERT_TRUE(model.ok()) << model.status();
  ObjectOptions one{.cpu = "x86-64-v3", .threads = 1};
  ObjectOptions two{.cpu = "x86-64-v3", .threads = 2};
  auto serial = CompileObjects(*model, one);
  auto parallel = CompileObjects(*model, two);
  ASSERT_TRUE(serial.ok()) << serial.status();
  ASSERT_TRUE(parallel.ok()) << parallel.status();
  EXPECT_EQ(serial->objects, parallel->objects);
  EXPECT_LT(serial->stats.modules, serial->stats.kernels + 1) << "twins compiled once";
  auto merged = MergeObjects(serial->objects);
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_EQ(merged->substr(0, 4),
            "\x7f"
            "ELF");
}

// Three training steps on deterministic inputs with a learning rate that moves the weights.
absl::StatusOr<std::vector<std::string>> TrainThreeSteps(runtime::KernelLibrary& library,
                                                         runtime::ProgramSpec spec) {
  KILN_ASSIGN_OR_RETURN(auto executable, runtime::Executable::Create(std::move(spec), library, 5));
  runtime::ThreadPool pool(2);
  KILN_ASSIGN_OR_RETURN(runtime::Entry * step, executable->FindEntry(/*training=*/true, 8));
  KILN_RETURN_IF_ERROR(codegen::FillProfileInputs(*step));
  KILN_ASSIGN_OR_RETURN(runtime::BufferView lr, step->Input(runtime::kLearningRateInput));
  lr.f32()[0] = 1e-2f;
  for (int i = 0; i < 3; ++i) step->Run(pool.parallel());
  std::vector<std::string> bits;
  for (const runtime::Tensor& tensor : executable->persistent()) {
    bits.emplace_back(static_cast<const char*>(tensor.data()), tensor.bytes());
  }
  return bits;
}

absl::StatusOr<std::vector<std::string>> TrainFromObjects(const CpuObjects& code) {
  KILN_ASSIGN_OR_RETURN(auto jit, CpuJit::Create(*code.target));
  for (const std::string& object : code.objects) KILN_RETURN_IF_ERROR(jit->AddObject(object));
  return TrainThreeSteps(*jit, code.spec);
}

TEST(ObjectCompilerTest, CacheHitTrainsToTheSameBitsAsTheOneModuleCompile) {
  auto model = FashionMlp();
  ASSERT_TRUE(model.ok()) << model.status();
  ObjectOptions options{.cpu = "native", .cache = CodeCache(FreshDirectory("hit"))};
  auto cold = CompileObjects(*model, options);
  ASSERT_TRUE(cold.ok()) << cold.status();
  EXPECT_EQ(cold->stats.cached, 0);
  auto warm = CompileObjects(*model, options);
  ASSERT_TRUE(warm.ok()) << warm.status();
  EXPECT_EQ(warm->stats.cached, warm->stats.modules);
  EXPECT_EQ(warm->objects, cold->objects);

  // The reference: every kernel in one module, as before the split (and as --emit=llvm shows).
  auto module = EmitCpuModule(*model, "native");
  ASSERT_TRUE(module.ok()) << module.status();
  auto reference_jit = CpuJit::Create(*module->target);
  ASSERT_TRUE(reference_jit.ok()) << reference_jit.status();
  ASSERT_TRUE(
      (*reference_jit)->AddModule(std::move(module->module), std::move(module->context)).ok());
  auto reference = TrainThreeSteps(**reference_jit, module->spec);
  ASSERT_TRUE(reference.ok()) << reference.status();

  auto from_cold = TrainFromObjects(*cold);
  auto from_warm = TrainFromObjects(*warm);
  ASSERT_TRUE(from_cold.ok()) << from_cold.status();
  ASSERT_TRUE(from_warm.ok()) << from_warm.status();
  ASSERT_FALSE(reference->empty());
  EXPECT_TRUE(*from_cold == *reference) << "split compile changed the training results";
  EXPECT_TRUE(*from_warm == *reference) << "cached code changed the training results";
}

TEST(ObjectCompilerTest, CorruptEntryIsRebuilt) {
  auto model = Twins(/*training=*/true);
  ASSERT_TRUE(model.ok()) << model.status();
  const std::string dir = FreshDirectory("corrupt");
  ObjectOptions options{.cpu = "x86-64-v3", .cache = CodeCache(dir)};
  auto cold = CompileObjects(*model, options);
  ASSERT_TRUE(cold.ok()) << cold.status();
  std::filesystem::path victim = std::filesystem::directory_iterator(dir)->path();
  {
    std::fstream file(victim, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(std::filesystem::file_size(victim) / 2));
    file.put('\x5a');
  }
  auto healed = CompileObjects(*model, options);
  ASSERT_TRUE(healed.ok()) << healed.status();
  EXPECT_EQ(healed->stats.cached, healed->stats.modules - 1);
  EXPECT_EQ(healed->objects, cold->objects);
  auto again = CompileObjects(*model, options);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->stats.cached, again->stats.modules) << "the rebuilt entry was stored";
}

TEST(ObjectCompilerTest, AnotherCpuMisses) {
  auto model = Twins(/*training=*/false);
  ASSERT_TRUE(model.ok()) << model.status();
  const std::string dir = FreshDirectory("cpus");
  auto v3 = CompileObjects(*model, {.cpu = "x86-64-v3", .cache = CodeCache(dir)});
  ASSERT_TRUE(v3.ok()) << v3.status();
  auto v2 = CompileObjects(*model, {.cpu = "x86-64-v2", .cache = CodeCache(dir)});
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ(v2->stats.cached, 0);
  EXPECT_NE(v2->objects, v3->objects);
  auto v3_again = CompileObjects(*model, {.cpu = "x86-64-v3", .cache = CodeCache(dir)});
  ASSERT_TRUE(v3_again.ok()) << v3_again.status();
  EXPECT_EQ(v3_again->stats.cached, v3_again->stats.modules);
}

}  // namespace
}  // namespace kiln::cpu
