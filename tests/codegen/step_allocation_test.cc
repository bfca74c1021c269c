// A training step allocates no heap memory: the executable owns every buffer, the thread pool
// hands out tasks without allocating, and the generated code calls no allocator. Counted with a
// malloc interposed on glibc's for this test binary (not under sanitizers, which own malloc).
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "codegen/cpu/cpu_backend.h"
#include "frontend/frontend.h"
#include "gtest/gtest.h"
#include "runtime/thread_pool.h"
#include "tools/compile_pipeline.h"

#if defined(__SANITIZE_ADDRESS__)
#define KILN_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KILN_UNDER_SANITIZER 1
#endif
#endif
#ifndef KILN_UNDER_SANITIZER
#define KILN_UNDER_SANITIZER 0
#endif

namespace {
std::atomic<bool> counting{false};
std::atomic<int64_t> allocations{0};
}  // namespace

#if !KILN_UNDER_SANITIZER
extern "C" {
void* __libc_malloc(size_t size);
void* __libc_calloc(size_t count, size_t size);
void* __libc_realloc(void* pointer, size_t size);

void* malloc(size_t size) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1);
  return __libc_malloc(size);
}
void* calloc(size_t count, size_t size) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1);
  return __libc_calloc(count, size);
}
void* realloc(void* pointer, size_t size) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1);
  return __libc_realloc(pointer, size);
}
}
#endif

namespace kiln {
namespace {

TEST(StepAllocationTest, TrainingAndEvaluationStepsAllocateNothing) {
#if KILN_UNDER_SANITIZER
  GTEST_SKIP() << "the sanitizer owns malloc";
#endif
  absl::StatusOr<frontend::ModelAst> ast = frontend::ParseModelFile("examples/fashion_mlp.kiln");
  ASSERT_TRUE(ast.ok()) << ast.status();
  absl::StatusOr<ir::TrainConfig> train = frontend::LowerTrainConfig(*ast);
  ASSERT_TRUE(train.ok()) << train.status();
  tools::CompileOptions options;
  options.entries = {{true, 64}, {false, 64}};
  absl::StatusOr<codegen::CompiledModel> model = tools::CompileModel(*ast, *train, options);
  ASSERT_TRUE(model.ok()) << model.status();
  absl::StatusOr<cpu::HostProgram> program = cpu::LoadOnHost(*model, /*seed=*/1);
  ASSERT_TRUE(program.ok()) << program.status();
  runtime::ThreadPool pool(2);  // Dispatch across threads is part of a step.
  for (bool training : {true, false}) {
    absl::StatusOr<runtime::Entry*> entry = program->executable->FindEntry(training, 64);
    ASSERT_TRUE(entry.ok()) << entry.status();
    ASSERT_TRUE(codegen::FillProfileInputs(**entry).ok());
    (*entry)->Run(pool.parallel());  // Warm: first-touch of pages, pool start.
    allocations = 0;
    counting = true;
    for (int step = 0; step < 20; ++step) (*entry)->Run(pool.parallel());
    counting = false;
    EXPECT_EQ(allocations.load(), 0) << (training ? "training" : "evaluation") << " step";
  }
  // The counter works: a vector allocates.
  counting = true;
  std::vector<int>* probe = new std::vector<int>(100);
  counting = false;
  delete probe;
#if !KILN_UNDER_SANITIZER
  EXPECT_GT(allocations.load(), 0);
#endif
}

}  // namespace
}  // namespace kiln
