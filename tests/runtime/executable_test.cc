#include "runtime/executable.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/thread_pool.h"
#include "tests/runtime/fake_kernel_library.h"

namespace kiln::runtime {
namespace {

using testing::FakeKernelLibrary;

// Kernel: slots[3][i] = slots[0][i] + slots[1][i] for tasks i in [begin, end).
void AddKernel(void** slots, int64_t begin, int64_t end) {
  const float* x = static_cast<const float*>(slots[0]);
  const float* w = static_cast<const float*>(slots[1]);
  float* t = static_cast<float*>(slots[3]);
  for (int64_t i = begin; i < end; ++i) t[i] = x[i] + w[i];
}

// Entry "forward_4": x input f32[4], w persistent f32[4], out output f32[], t temp f32[4].
// t = x + w in parallel, then out = sum(t).
void ForwardEntry(void** slots, const KilnParallel* parallel) {
  parallel->run(parallel->pool, &AddKernel, slots, 4);
  const float* t = static_cast<const float*>(slots[3]);
  *static_cast<float*>(slots[2]) = t[0] + t[1] + t[2] + t[3];
}

// Entry "update": w persistent f32[4] += 1, step persistent i64[] += 1.
void UpdateEntry(void** slots, const KilnParallel* parallel) {
  float* w = static_cast<float*>(slots[0]);
  for (int i = 0; i < 4; ++i) w[i] += 1.0f;
  ++*static_cast<int64_t*>(slots[1]);
}

BufferSpec Buffer(const std::string& name, BufferRole role, ElementType type,
                  std::vector<int64_t> shape, int64_t arena_offset = 0) {
  BufferSpec buffer;
  buffer.name = name;
  buffer.role = role;
  buffer.type = type;
  buffer.shape = std::move(shape);
  buffer.arena_offset = arena_offset;
  buffer.bytes = NumElements(buffer.shape) * ElementSize(type);
  return buffer;
}

PersistentSpec Persistent(const std::string& name, ElementType type, std::vector<int64_t> shape,
                          InitSpec init) {
  PersistentSpec spec;
  spec.name = name;
  spec.type = type;
  spec.shape = std::move(shape);
  spec.init = init;
  return spec;
}

ProgramSpec MakeProgram() {
  ProgramSpec program;
  EntrySpec forward;
  forward.symbol = "forward_4";
  forward.batch_size = 4;
  forward.buffers = {
      Buffer("x", BufferRole::kInput, ElementType::kF32, {4}),
      Buffer("w", BufferRole::kPersistent, ElementType::kF32, {4}),
      Buffer("out", BufferRole::kOutput, ElementType::kF32, {}, 0),
      Buffer("t", BufferRole::kTemp, ElementType::kF32, {4}, 64),
  };
  forward.arena_bytes = 128;
  EntrySpec update;
  update.symbol = "update";
  update.training = true;
  update.batch_size = 4;
  update.buffers = {
      Buffer("w", BufferRole::kPersistent, ElementType::kF32, {4}),
      Buffer("step", BufferRole::kPersistent, ElementType::kI64, {}),
  };
  program.entries = {forward, update};
  program.persistent = {
      Persistent("w", ElementType::kF32, {4}, {InitSpec::Kind::kConstant, 0.5, 0.0}),
      Persistent("step", ElementType::kI64, {}, {InitSpec::Kind::kConstant, 7, 0.0}),
  };
  return program;
}

class ExecutableTest : public ::testing::Test {
 protected:
  ExecutableTest() {
    library_.Add("forward_4", &ForwardEntry);
    library_.Add("update", &UpdateEntry);
  }
  absl::StatusOr<std::unique_ptr<Executable>> Create(ProgramSpec program, uint64_t seed = 1) {
    return Executable::Create(std::move(program), library_, seed);
  }
  std::string CreateError(ProgramSpec program) {
    return std::string(Create(std::move(program)).status().message());
  }

  FakeKernelLibrary library_;
  ThreadPool pool_{2};
};

TEST_F(ExecutableTest, BindsSlotsAndSharesPersistentTensors) {
  absl::StatusOr<std::unique_ptr<Executable>> exe = Create(MakeProgram());
  ASSERT_TRUE(exe.ok()) << exe.status();
  EXPECT_EQ(library_.resolve_calls(), 2);  // Once per entry, never per run.

  absl::StatusOr<Entry*> forward = (*exe)->FindEntry(/*training=*/false, 4);
  ASSERT_TRUE(forward.ok()) << forward.status();
  absl::StatusOr<BufferView> x = (*forward)->Input("x");
  ASSERT_TRUE(x.ok()) << x.status();
  const float values[] = {1, 2, 3, 4};
  std::memcpy(x->f32(), values, sizeof(values));
  (*forward)->Run(pool_.parallel());
  absl::StatusOr<BufferView> out = (*forward)->Output("out");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out->f32(), 10.0f + 4 * 0.5f);

  // The training entry updates w in place; the evaluation entry sees the same tensor.
  absl::StatusOr<Entry*> update = (*exe)->FindEntry(/*training=*/true, 4);
  ASSERT_TRUE(update.ok()) << update.status();
  (*update)->Run(pool_.parallel());
  (*update)->Run(pool_.parallel());
  (*forward)->Run(pool_.parallel());
  EXPECT_EQ(*out->f32(), 10.0f + 4 * 2.5f);
  EXPECT_EQ((*exe)->FindPersistent("w")->f32()[3], 2.5f);
  EXPECT_EQ(*(*exe)->FindPersistent("step")->i64(), 9);
}

TEST_F(ExecutableTest, EveryBufferIs64ByteAligned) {
  absl::StatusOr<std::unique_ptr<Executable>> exe = Create(MakeProgram());
  ASSERT_TRUE(exe.ok()) << exe.status();
  for (const std::unique_ptr<Entry>& entry : (*exe)->entries()) {
    for (const BufferSpec& buffer : entry->spec().buffers) {
      absl::StatusOr<BufferView> view = entry->Buffer(buffer.name);
      ASSERT_TRUE(view.ok()) << view.status();
      EXPECT_EQ(reinterpret_cast<uintptr_t>(view->data) % 64, 0u) << buffer.name;
    }
  }
}

TEST_F(ExecutableTest, LooksUpBuffersByRole) {
  absl::StatusOr<std::unique_ptr<Executable>> exe = Create(MakeProgram());
  ASSERT_TRUE(exe.ok()) << exe.status();
  Entry* forward = *(*exe)->FindEntry(false, 4);
  EXPECT_TRUE(forward->HasInput("x"));
  EXPECT_FALSE(forward->HasInput("out"));
  EXPECT_EQ(forward->Input("out").status().message(),
            "entry 'forward_4' has no input buffer 'out'");
  EXPECT_EQ(forward->Output("nope").status().message(),
            "entry 'forward_4' has no output buffer 'nope'");
  EXPECT_EQ((*exe)->FindEntry(true, 32).status().message(),
            "no training entry for batch size 32 (compiled batch sizes: 4)");
}

TEST_F(ExecutableTest, InitializationIsSeededAndDeterministic) {
  ProgramSpec program;
  program.persistent = {
      Persistent("u", ElementType::kF32, {100, 100}, {InitSpec::Kind::kUniform, -0.25, 0.75}),
      Persistent("n", ElementType::kF32, {100, 100}, {InitSpec::Kind::kNormal, 2.0, 0.5}),
  };
  auto a = Create(program, 11), b = Create(program, 11), c = Create(program, 12);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  for (const char* name : {"u", "n"}) {
    const Tensor* ta = (*a)->FindPersistent(name);
    EXPECT_EQ(std::memcmp(ta->data(), (*b)->FindPersistent(name)->data(), ta->bytes()), 0);
    EXPECT_NE(std::memcmp(ta->data(), (*c)->FindPersistent(name)->data(), ta->bytes()), 0);
  }
  const Tensor* u = (*a)->FindPersistent("u");
  const Tensor* n = (*a)->FindPersistent("n");
  double u_sum = 0, n_sum = 0, n_sq = 0;
  for (int64_t i = 0; i < 10000; ++i) {
    ASSERT_GE(u->f32()[i], -0.25f);
    ASSERT_LT(u->f32()[i], 0.75f);
    u_sum += u->f32()[i];
    n_sum += n->f32()[i];
    n_sq += n->f32()[i] * n->f32()[i];
  }
  EXPECT_NEAR(u_sum / 10000, 0.25, 0.01);
  const double mean = n_sum / 10000;
  EXPECT_NEAR(mean, 2.0, 0.02);
  EXPECT_NEAR(std::sqrt(n_sq / 10000 - mean * mean), 0.5, 0.02);

  // Re-initializing with the first seed restores the first tensors exactly.
  (*c)->InitializePersistent(11);
  EXPECT_EQ(std::memcmp(u->data(), (*c)->FindPersistent("u")->data(), u->bytes()), 0);
}

TEST_F(ExecutableTest, PersistentShapeMismatch) {
  ProgramSpec program = MakeProgram();
  program.persistent[0].shape = {2, 2};
  EXPECT_EQ(CreateError(program),
            "entry 'forward_4': buffer 'w' is f32[4] but persistent 'w' is f32[2,2]");
  program = MakeProgram();
  program.persistent[1].type = ElementType::kF32;
  EXPECT_EQ(CreateError(program),
            "entry 'update': buffer 'step' is i64[] but persistent 'step' is f32[]");
}

TEST_F(ExecutableTest, MissingPersistentAndSymbol) {
  ProgramSpec program = MakeProgram();
  program.persistent.pop_back();
  EXPECT_EQ(CreateError(program), "entry 'update': buffer 'step' names no persistent tensor");
  program = MakeProgram();
  program.entries[1].symbol = "missing";
  EXPECT_EQ(CreateError(program), "symbol 'missing' is not in the library");
}

TEST_F(ExecutableTest, ArenaChecks) {
  ProgramSpec program = MakeProgram();
  program.entries[0].arena_bytes = 64;
  EXPECT_EQ(CreateError(program),
            "entry 'forward_4': temp buffer 't' (16 bytes at offset 64) does not fit the 64-byte "
            "arena at a 64-byte aligned offset");
  program = MakeProgram();
  program.entries[0].buffers[3].arena_offset = 32;
  EXPECT_EQ(CreateError(program),
            "entry 'forward_4': temp buffer 't' (16 bytes at offset 32) does not fit the 128-byte "
            "arena at a 64-byte aligned offset");
  program = MakeProgram();
  program.entries[0].buffers[3].bytes = 8;
  EXPECT_EQ(CreateError(program),
            "entry 'forward_4': buffer 't' is f32[4] (16 bytes) but reserves only 8 bytes");
}

// A model too big for the machine, or a shape whose size overflows, is a one-line error rather
// than std::bad_alloc escaping (or a wrapped-around size being allocated).
TEST_F(ExecutableTest, AllocationsTheMachineCannotMakeAreErrors) {
  ProgramSpec program = MakeProgram();
  program.entries[0].arena_bytes = int64_t{1} << 62;
  absl::StatusOr<std::unique_ptr<Executable>> exe = Create(program);
  EXPECT_EQ(exe.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(exe.status().message(),
            "entry 'forward_4': arena: cannot allocate 4611686018427387904 bytes (out of memory)");
  program = MakeProgram();
  program.persistent[0].shape = {int64_t{1} << 40, int64_t{1} << 40};
  EXPECT_EQ(CreateError(program),
            "tensor 'w': f32[1099511627776,1099511627776] has more bytes than 64 bits can count");
  program = MakeProgram();
  program.entries[0].buffers[0].shape = {int64_t{1} << 62, 4};
  program.entries[0].buffers[0].bytes = 0;
  EXPECT_EQ(CreateError(program),
            "entry 'forward_4': buffer 'x': f32[4611686018427387904,4] has more bytes than 64 bits "
            "can count");
}

TEST_F(ExecutableTest, RejectsDuplicatesAndRandomIntegerInit) {
  ProgramSpec program = MakeProgram();
  program.entries[0].buffers.push_back(program.entries[0].buffers[0]);
  EXPECT_EQ(CreateError(program), "entry 'forward_4': buffer 'x' is declared twice");
  program = MakeProgram();
  program.persistent.push_back(program.persistent[0]);
  EXPECT_EQ(CreateError(program), "persistent tensor 'w' is declared twice");
  program = MakeProgram();
  program.persistent[1].init.kind = InitSpec::Kind::kNormal;
  EXPECT_EQ(CreateError(program),
            "persistent tensor 'step' is i64 and can only be initialized to a constant");
}

}  // namespace
}  // namespace kiln::runtime
