// Runs JIT-compiled GEMM kernels against a double-precision reference over a grid of shapes with
// ragged edges, all transpose combinations and several tilings, for each vector ISA this machine
// can run (native, and the x86-64-v2/v3/v4 levels: 4, 8 and 16 lanes); checks the fused
// epilogue, that nothing past C is written, that the work splits across threads, and that the
// code is vector FMA on AVX2 and AVX-512 and mul + add on SSE.
#include "codegen/cpu/gemm_emitter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "codegen/cpu/gemm_test_jit.h"
#include "codegen/cpu/llvm_target.h"
#include "llvm/IR/Intrinsics.h"

namespace kiln::cpu {
namespace {

constexpr int kGuard = 64;             // Floats of guard before and after C.
constexpr float kGuardValue = -777.0f;

struct Case {
  GemmShape shape;
  GemmTiling tiling;
  bool default_tiling = true;
  bool bias_relu = false;
  int64_t tasks_per_call = 1;  // The kernel runs its tasks in calls of this many (the last fewer).
  // Where shape.a_offsets / b_offsets point (set by RunCases): A or B read at offsets.
  std::shared_ptr<MatrixOffsets> a_offsets, b_offsets;
};

// The operand's elements: row-major, or read at its offsets from a source buffer `data`.
double Element(const std::vector<float>& data, const MatrixOffsets* offsets, int64_t row,
               int64_t col, int64_t row_stride) {
  if (offsets) return data[offsets->rows[row] + offsets->cols[col]];
  return data[row * row_stride + col];
}

// Floats the operand's buffer holds: m x k, or up to its largest offset.
int64_t BufferSize(const MatrixOffsets* offsets, int64_t elements) {
  if (!offsets) return elements;
  return *std::max_element(offsets->rows.begin(), offsets->rows.end()) +
         *std::max_element(offsets->cols.begin(), offsets->cols.end()) + 1;
}

std::string Name(const Case& c, int index) {
  const GemmShape& s = c.shape;
  return absl::StrCat("gemm_", index, "_m", s.m, "_n", s.n, "_k", s.k, s.transpose_a ? "_ta" : "",
                      s.transpose_b ? "_tb" : "");
}

std::vector<float> RandomVector(int64_t size, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(size);
  for (float& x : v) x = dist(rng);
  return v;
}

// C = op(A) op(B) (+ bias, relu), in double, straight from the definition.
std::vector<double> Reference(const Case& c, const std::vector<float>& a,
                              const std::vector<float>& b, const std::vector<float>& bias) {
  const GemmShape& s = c.shape;
  std::vector<double> out(s.m * s.n);
  for (int64_t i = 0; i < s.m; ++i) {
    for (int64_t j = 0; j < s.n; ++j) {
      double sum = 0;
      for (int64_t p = 0; p < s.k; ++p) {
        double av = s.transpose_a ? a[p * s.m + i] : Element(a, s.a_offsets, i, p, s.k);
        double bv = s.transpose_b ? b[j * s.k + p] : Element(b, s.b_offsets, p, j, s.n);
        sum += av * bv;
      }
      if (c.bias_relu) sum = std::max(sum + bias[j], 0.0);
      out[i * s.n + j] = sum;
    }
  }
  return out;
}

// Epilogue: acc + bias[col : col+lanes] (slot 3), then ReLU.
llvm::Value* BiasRelu(llvm::IRBuilderBase& b, llvm::Value* slots, llvm::Value* acc,
                      llvm::Value* row, llvm::Value* col, int lanes) {
  auto* vec = llvm::cast<llvm::FixedVectorType>(acc->getType());
  llvm::Value* bias_ptr =
      b.CreateLoad(b.getPtrTy(), b.CreateConstInBoundsGEP1_64(b.getPtrTy(), slots, 3));
  llvm::Value* addr = b.CreateInBoundsGEP(b.getFloatTy(), bias_ptr, col);
  llvm::Value* bias;
  if (lanes == static_cast<int>(vec->getNumElements())) {
    bias = b.CreateAlignedLoad(vec, addr, llvm::Align(4));
  } else {
    std::vector<llvm::Constant*> mask;
    for (unsigned i = 0; i < vec->getNumElements(); ++i) {
      mask.push_back(b.getInt1(i < static_cast<unsigned>(lanes)));
    }
    bias = b.CreateMaskedLoad(vec, addr, llvm::Align(4), llvm::ConstantVector::get(mask),
                              llvm::Constant::getNullValue(vec));
  }
  return b.CreateMaxNum(b.CreateFAdd(acc, bias), llvm::Constant::getNullValue(vec));
}

// Every test of this fixture runs for each CPU of INSTANTIATE_TEST_SUITE_P below that this
// machine can run (the others skip): the kernels are emitted for that CPU's vector ISA and
// JIT-compiled for it.
class GemmEmitterTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto jit = GemmTestJit::Create(GetParam());
    if (absl::IsFailedPrecondition(jit.status())) GTEST_SKIP() << jit.status();
    ASSERT_TRUE(jit.ok()) << jit.status();
    isa_ = (*jit)->isa();
  }

  // A fresh JIT for the fixture's CPU (one per module: kernel names repeat between calls).
  std::unique_ptr<GemmTestJit> NewJit() {
    auto jit = GemmTestJit::Create(GetParam());
    EXPECT_TRUE(jit.ok()) << jit.status();
    return jit.ok() ? std::move(*jit) : nullptr;
  }

  int64_t NumTasks(const Case& c) const {
    return c.default_tiling ? GemmNumTasks(c.shape, isa_) : GemmNumTasks(c.shape, isa_, c.tiling);
  }

  // JIT-compiles all cases in one module and checks each against the reference.
  void RunCases(std::vector<Case> cases, std::string* optimized_ir = nullptr,
                std::string* assembly = nullptr) {
    auto context = std::make_unique<llvm::LLVMContext>();
    auto module = std::make_unique<llvm::Module>("gemm_test", *context);
    for (size_t i = 0; i < cases.size(); ++i) {
      Case& c = cases[i];
      c.shape.a_offsets = c.a_offsets.get();
      c.shape.b_offsets = c.b_offsets.get();
      GemmEpilogue epilogue = c.bias_relu ? GemmEpilogue(BiasRelu) : GemmEpilogue();
      if (c.default_tiling) {
        EmitGemmKernel(*module, Name(c, i), c.shape, epilogue, isa_);
      } else {
        EmitGemmKernel(*module, Name(c, i), c.shape, epilogue, isa_, c.tiling);
      }
    }
    std::unique_ptr<GemmTestJit> jit = NewJit();
    ASSERT_NE(jit, nullptr);
    absl::Status added = jit->Add(std::move(context), std::move(module), optimized_ir, assembly);
    ASSERT_TRUE(added.ok()) << added;
    for (size_t i = 0; i < cases.size(); ++i) {
      auto fn = jit->Lookup(Name(cases[i], i));
      ASSERT_TRUE(fn.ok()) << fn.status();
      CheckCase(cases[i], *fn, Name(cases[i], i));
    }
  }

  void CheckCase(const Case& c, KilnTaskFn fn, const std::string& name) {
    const GemmShape& s = c.shape;
    std::mt19937 rng(static_cast<unsigned>(s.m * 1000003 + s.n * 1009 + s.k));
    std::vector<float> a = RandomVector(BufferSize(s.a_offsets, s.m * s.k), rng);
    std::vector<float> b = RandomVector(BufferSize(s.b_offsets, s.k * s.n), rng);
    std::vector<float> bias = RandomVector(s.n + kGuard, rng);
    std::vector<float> c_buf(s.m * s.n + 2 * kGuard, kGuardValue);
    float* c_data = c_buf.data() + kGuard;
    std::vector<void*> slots(4, nullptr);
    slots[s.a_slot] = a.data();
    slots[s.b_slot] = b.data();
    slots[s.c_slot] = c_data;
    slots[3] = bias.data();

    // Calls in task order: a write past a row's last column would land in a part of the next row
    // that an earlier call already finished, and be caught below.
    const int64_t num_tasks = NumTasks(c);
    for (int64_t t = 0; t < num_tasks; t += c.tasks_per_call) {
      fn(slots.data(), t, std::min(t + c.tasks_per_call, num_tasks));
    }

    std::vector<double> want = Reference(c, a, b, bias);
    int failures = 0;
    for (int64_t i = 0; i < s.m * s.n && failures < 5; ++i) {
      double tolerance = 1e-4 * std::max(1.0, std::abs(want[i]));
      if (std::abs(c_data[i] - want[i]) > tolerance) {
        ADD_FAILURE() << name << ": C[" << i / s.n << "," << i % s.n << "] = " << c_data[i]
                      << ", want " << want[i];
        ++failures;
      }
    }
    for (int g = 0; g < kGuard; ++g) {
      ASSERT_EQ(c_buf[g], kGuardValue) << name << ": wrote before C";
      ASSERT_EQ(c_buf[kGuard + s.m * s.n + g], kGuardValue) << name << ": wrote past C";
    }
  }

  VectorIsa isa_;
};

// native: whatever this machine has; then 4, 8 and 16 lanes.
INSTANTIATE_TEST_SUITE_P(Cpus, GemmEmitterTest,
                         ::testing::Values("native", "x86-64-v2", "x86-64-v3", "x86-64-v4"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

std::vector<Case> EdgeGrid(bool transpose_a, bool transpose_b) {
  std::vector<Case> cases;
  for (int64_t m : {1, 5, 7, 13}) {
    for (int64_t n : {1, 10, 17, 33}) {
      for (int64_t k : {1, 3, 100}) {
        Case c;
        c.shape = {.m = m, .n = n, .k = k, .transpose_a = transpose_a, .transpose_b = transpose_b,
                   .a_slot = 0, .b_slot = 1, .c_slot = 2};
        cases.push_back(c);
      }
    }
  }
  return cases;
}

TEST_P(GemmEmitterTest, EdgeGridPlain) { RunCases(EdgeGrid(false, false)); }
TEST_P(GemmEmitterTest, EdgeGridTransposeA) { RunCases(EdgeGrid(true, false)); }
TEST_P(GemmEmitterTest, EdgeGridTransposeB) { RunCases(EdgeGrid(false, true)); }
TEST_P(GemmEmitterTest, EdgeGridTransposeBoth) { RunCases(EdgeGrid(true, true)); }

// The MLP shapes the benchmark measures, with the default tiling.
TEST_P(GemmEmitterTest, MlpShapes) {
  std::vector<Case> cases;
  auto add = [&](int64_t m, int64_t n, int64_t k, bool ta, bool tb) {
    Case c;
    c.shape = {.m = m, .n = n, .k = k, .transpose_a = ta, .transpose_b = tb};
    cases.push_back(c);
  };
  add(64, 256, 784, false, false);
  add(64, 128, 256, false, false);
  add(64, 10, 128, false, false);
  add(784, 256, 64, true, false);
  add(256, 128, 64, true, false);
  add(128, 10, 64, true, false);
  add(64, 256, 128, false, true);
  add(64, 128, 10, false, true);
  add(37, 70, 1300, false, true);  // k blocks, with a short last one.
  add(37, 70, 1300, true, false);
  RunCases(cases);
}

// Explicit tilings: register blocks of other sizes, several row groups, k blocking (where later
// blocks continue from partial sums in C), packing of a non-transposed B and of a transposed A,
// and both task orders.
TEST_P(GemmEmitterTest, Tilings) {
  std::vector<Case> cases;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      for (GemmTiling tiling : {GemmTiling{.mr = 4, .nr_vectors = 3, .kc = 7, .rows_per_task = 8},
                                GemmTiling{.mr = 8, .nr_vectors = 1, .kc = 0, .rows_per_task = 16,
                                           .pack_b = true},
                                GemmTiling{.mr = 1, .nr_vectors = 4, .kc = 40, .rows_per_task = 3,
                                           .pack_b = true},
                                GemmTiling{.mr = 4, .nr_vectors = 1, .kc = 20, .rows_per_task = 8,
                                           .pack_b = true, .rows_outer = true},
                                GemmTiling{.mr = 6, .nr_vectors = 2, .kc = 0, .rows_per_task = 18},
                                GemmTiling{.mr = 3, .nr_vectors = 2, .kc = 0, .rows_per_task = 6,
                                           .rows_outer = true},
                                // Packed A, reused by consecutive tasks or (panels outer)
                                // packed again for every task.
                                GemmTiling{.mr = 4, .nr_vectors = 2, .kc = 30, .rows_per_task = 8,
                                           .rows_outer = true, .pack_a = true},
                                GemmTiling{.mr = 3, .nr_vectors = 1, .kc = 0, .rows_per_task = 12,
                                           .pack_b = true, .pack_a = true}}) {
        if (tiling.pack_a && !ta) continue;  // Only a transposed A is packed.
        Case c;
        c.shape = {.m = 29, .n = 75, .k = 83, .transpose_a = ta, .transpose_b = tb};
        c.tiling = tiling;
        c.default_tiling = false;
        c.bias_relu = tiling.mr == 4;
        cases.push_back(c);
        // The same tiling with k blocks outside the tasks of a call: calls of 3 tasks (and a
        // shorter last one) each walk their tasks once per k block.
        if (tiling.pack_a || tiling.kc == 0) continue;
        c.tiling.kblocks_outer = true;
        c.tasks_per_call = 3;
        cases.push_back(c);
      }
    }
  }
  RunCases(cases);
}

// The patches of a 3x3 convolution over a padded NHWC image [2, 6, 6, channels] (4x4 outputs), as
// offsets into it: row (n, oh, ow), column (kh, kw, c), as ir/windowed_operand.h resolves them.
std::shared_ptr<MatrixOffsets> PatchOffsets(int64_t channels) {
  auto offsets = std::make_shared<MatrixOffsets>();
  for (int64_t n = 0; n < 2; ++n) {
    for (int64_t oh = 0; oh < 4; ++oh) {
      for (int64_t ow = 0; ow < 4; ++ow) {
        offsets->rows.push_back(((n * 6 + oh) * 6 + ow) * channels);
      }
    }
  }
  for (int64_t kh = 0; kh < 3; ++kh) {
    for (int64_t kw = 0; kw < 3; ++kw) {
      for (int64_t c = 0; c < channels; ++c) offsets->cols.push_back((kh * 6 + kw) * channels + c);
    }
  }
  return offsets;
}

// A convolution's GEMMs reading the patches at offsets: the forward (patches as A, the weight
// as B transposed) and the weight gradient (the output gradient as A transposed, the patches as
// B). 16 channels: B's vectors load whole; 3: they straddle taps and load lane by lane. With the
// default tiling and with k blocks, packed B, and k blocks outside the tasks.
TEST_P(GemmEmitterTest, OperandsAtOffsets) {
  std::vector<Case> cases;
  for (int64_t channels : {16, 3}) {
    std::shared_ptr<MatrixOffsets> patches = PatchOffsets(channels);
    const int64_t rows = 32, taps = 9 * channels;
    for (int64_t oc : {10, 33}) {
      Case forward;
      forward.shape = {.m = rows, .n = oc, .k = taps, .transpose_b = true};
      forward.a_offsets = patches;
      cases.push_back(forward);
      forward.tiling = GemmTiling{.mr = 4, .nr_vectors = 2, .kc = 20, .rows_per_task = 8};
      forward.default_tiling = false;
      cases.push_back(forward);

      Case weight_grad;
      weight_grad.shape = {.m = oc, .n = taps, .k = rows, .transpose_a = true};
      weight_grad.b_offsets = patches;
      cases.push_back(weight_grad);
      weight_grad.tiling = GemmTiling{.mr = 4, .nr_vectors = 2, .kc = 7, .rows_per_task = 8,
                                      .pack_b = true};
      weight_grad.default_tiling = false;
      cases.push_back(weight_grad);
      weight_grad.tiling.pack_b = false;
      weight_grad.tiling.kblocks_outer = true;
      weight_grad.tasks_per_call = 3;
      cases.push_back(weight_grad);
    }
  }
  RunCases(cases);
}

// Bias + ReLU through the epilogue callback, at masked edge columns, with and without k blocks.
TEST_P(GemmEmitterTest, BiasReluEpilogue) {
  std::vector<Case> cases;
  for (int64_t n : {10, 16, 33, 70}) {
    for (bool tb : {false, true}) {
      Case c;
      c.shape = {.m = 13, .n = n, .k = 100, .transpose_b = tb};
      c.bias_relu = true;
      cases.push_back(c);
      c.tiling = GemmTiling{.mr = 6, .nr_vectors = 2, .kc = 30, .rows_per_task = 6};
      c.default_tiling = false;
      cases.push_back(c);
    }
  }
  RunCases(cases);
}

// The epilogue is emitted once for every (row, vector) of each form of panel (full, and the right
// edge with its lane count).
TEST(GemmEpilogueTest, Lanes) {
  auto lanes_seen = [](const VectorIsa& isa) {
    llvm::LLVMContext context;
    llvm::Module module("lanes", context);
    std::multiset<int> seen;
    GemmEpilogue record = [&](llvm::IRBuilderBase& b, llvm::Value* slots, llvm::Value* acc,
                              llvm::Value* row, llvm::Value* col, int lanes) {
      seen.insert(lanes);
      return acc;
    };
    EmitGemmKernel(module, "lanes", {.m = 6, .n = 42, .k = 5}, record, isa,
                   GemmTiling{.mr = 6, .nr_vectors = 2});
    return seen;
  };
  // n = 42. AVX-512: full panels of 2 vectors of 16 (one) and an edge panel of 10 columns.
  std::multiset<int> avx512;
  for (int row = 0; row < 6; ++row) avx512.insert({16, 16, 10});
  EXPECT_EQ(lanes_seen(kAvx512), avx512);
  // AVX2: full panels of 2 vectors of 8 (two) and an edge panel of 8 + 2 columns.
  std::multiset<int> avx2;
  for (int row = 0; row < 6; ++row) avx2.insert({8, 8, 8, 2});
  EXPECT_EQ(lanes_seen(kAvx2), avx2);
}

// Both halves of the task range, on two threads, compute all of C for every benchmark shape.
TEST_P(GemmEmitterTest, SplitsAcrossThreads) {
  const GemmShape shapes[] = {
      {.m = 64, .n = 256, .k = 784},
      {.m = 64, .n = 128, .k = 256},
      {.m = 64, .n = 10, .k = 128},
      {.m = 784, .n = 256, .k = 64, .transpose_a = true},
      {.m = 256, .n = 128, .k = 64, .transpose_a = true},
      {.m = 128, .n = 10, .k = 64, .transpose_a = true},
      {.m = 64, .n = 256, .k = 128, .transpose_b = true},
      {.m = 64, .n = 128, .k = 10, .transpose_b = true},
      {.m = 600, .n = 70, .k = 90, .transpose_a = true},  // Packed A; a group spans both halves.
  };
  auto context = std::make_unique<llvm::LLVMContext>();
  auto module = std::make_unique<llvm::Module>("split", *context);
  for (size_t i = 0; i < std::size(shapes); ++i) {
    EXPECT_GE(GemmNumTasks(shapes[i], isa_), 4) << "shape " << i << " leaves a core idle";
    EmitGemmKernel(*module, absl::StrCat("split", i), shapes[i], nullptr, isa_);
  }
  std::unique_ptr<GemmTestJit> jit = NewJit();
  ASSERT_NE(jit, nullptr);
  ASSERT_TRUE(jit->Add(std::move(context), std::move(module)).ok());
  for (size_t i = 0; i < std::size(shapes); ++i) {
    const GemmShape& s = shapes[i];
    auto fn = jit->Lookup(absl::StrCat("split", i));
    ASSERT_TRUE(fn.ok()) << fn.status();
    std::mt19937 rng(static_cast<unsigned>(i));
    std::vector<float> a = RandomVector(s.m * s.k, rng), b = RandomVector(s.k * s.n, rng);
    std::vector<float> c(s.m * s.n, kGuardValue);
    void* slots[] = {a.data(), b.data(), c.data()};
    const int64_t tasks = GemmNumTasks(s, isa_);
    std::thread first([&] { (*fn)(slots, 0, tasks / 2); });
    std::thread second([&] { (*fn)(slots, tasks / 2, tasks); });
    first.join();
    second.join();
    Case ref_case;
    ref_case.shape = s;
    std::vector<double> want = Reference(ref_case, a, b, {});
    for (int64_t e = 0; e < s.m * s.n; ++e) {
      ASSERT_NEAR(c[e], want[e], 1e-4 * std::max(1.0, std::abs(want[e]))) << "shape " << i;
    }
  }
}

// Optimized and assembled for a named CPU (not the host: the test must not depend on the machine
// it runs on), the W3 GEMM is vector code of the CPU's width: <W x float> multiply-adds in the IR
// (llvm.fmuladd until instruction selection), no scalar ones, and in the assembly vfmadd on the
// CPU's widest registers, or mulps + addps without FMA.
struct IsaExpectation {
  std::string cpu;
  int lanes;
  std::string registers;  // The register class the arithmetic uses: "zmm", "ymm", "xmm".
  bool fma;
};

void ExpectVectorCode(const IsaExpectation& want) {
  SCOPED_TRACE(want.cpu);
  llvm::LLVMContext context;
  llvm::Module module("gemm_fma", context);
  auto target = CreateTargetMachine(want.cpu);
  ASSERT_TRUE(target.ok()) << target.status();
  const VectorIsa isa = VectorIsaOf(**target);
  ASSERT_EQ(isa.lanes, want.lanes);
  ASSERT_EQ(isa.fma, want.fma);
  EmitGemmKernel(module, "gemm", {.m = 64, .n = 256, .k = 784}, GemmEpilogue(), isa);
  ASSERT_TRUE(OptimizeModule(module, **target).ok());
  auto ir = EmitModule(module, **target, OutputKind::kLlvmIr);
  auto assembly = EmitModule(module, **target, OutputKind::kAssembly);
  ASSERT_TRUE(ir.ok() && assembly.ok());
  const std::string vector =
      absl::StrCat("<", want.lanes, " x float> @llvm\\.(fma|fmuladd)\\.v", want.lanes, "f32");
  EXPECT_TRUE(std::regex_search(*ir, std::regex(vector))) << "no " << vector << " in the IR";
  EXPECT_FALSE(std::regex_search(*ir, std::regex(R"(float @llvm\.(fma|fmuladd)\.f32)")))
      << "scalar fma in the optimized IR";
  if (want.fma) {
    EXPECT_TRUE(
        std::regex_search(*assembly, std::regex("vfmadd[0-9]+ps\\s[^\\n]*" + want.registers)))
        << "no vfmadd on " << want.registers << " registers in the assembly";
  } else {
    EXPECT_EQ(assembly->find("vfmadd"), std::string::npos) << "FMA on a CPU without it";
    EXPECT_TRUE(std::regex_search(*assembly, std::regex("\\smulps\\s[^\\n]*xmm")));
    EXPECT_TRUE(std::regex_search(*assembly, std::regex("\\saddps\\s[^\\n]*xmm")));
  }
}

TEST(GemmInstructionsTest, Avx512UsesZmm) { ExpectVectorCode({"x86-64-v4", 16, "zmm", true}); }
TEST(GemmInstructionsTest, Avx2UsesYmm) { ExpectVectorCode({"x86-64-v3", 8, "ymm", true}); }
TEST(GemmInstructionsTest, Sse42UsesXmmMulAdd) { ExpectVectorCode({"x86-64-v2", 4, "xmm", false}); }

TEST(GemmInstructionsTest, UnknownCpuIsAnError) {
  auto target = CreateTargetMachine("pentium9000");
  ASSERT_FALSE(target.ok());
  EXPECT_NE(target.status().message().find("unknown CPU 'pentium9000'"), std::string::npos);
}

// A large case, JIT-compiled and run (native: whatever this machine's vector ISA).
// A weight gradient's k too long for its rows to be packed on the stack (A read transposed in
// place) goes in balanced blocks of at most 128 (partial sums through C); the same k
// untransposed in blocks of up to 1024.
TEST_P(GemmEmitterTest, DefaultTilingBlocksALongTransposedK) {
  Case c;
  c.shape = {.m = 20, .n = 40, .k = 40000, .transpose_a = true};
  const GemmTiling tiling = ChooseGemmTiling(c.shape, isa_);
  EXPECT_FALSE(tiling.pack_a);
  EXPECT_EQ(tiling.kc, 128);  // 313 blocks: 40000 / 313 rounded up. (Tilings runs k blocks.)
  c.shape.transpose_a = false;
  EXPECT_EQ(ChooseGemmTiling(c.shape, isa_).kc, 1000);
}

// A weight gradient whose output is small (here 20 x 40) walks a call's tasks once per k block,
// whatever the split of tasks into calls; a large output keeps each task through all of k, so its
// part of C stays in cache across the k blocks.
TEST_P(GemmEmitterTest, DefaultTilingPutsKBlocksOutsideTasksForASmallOutput) {
  Case c;
  c.shape = {.m = 20, .n = 40, .k = 5000, .transpose_a = true};  // 40 k blocks.
  ASSERT_GT(c.shape.k, ChooseGemmTiling(c.shape, isa_).kc);
  EXPECT_TRUE(ChooseGemmTiling(c.shape, isa_).kblocks_outer);
  std::vector<Case> cases;
  for (int64_t per_call : {int64_t{1}, int64_t{2}, NumTasks(c)}) {
    c.tasks_per_call = per_call;
    cases.push_back(c);
  }
  RunCases(cases);
  EXPECT_FALSE(ChooseGemmTiling({.m = 300, .n = 1000, .k = 4000, .transpose_a = true}, isa_)
                   .kblocks_outer);
  EXPECT_FALSE(ChooseGemmTiling({.m = 20, .n = 40, .k = 40000}, isa_).kblocks_outer);
}

// A transposed A whose rows fit the stack buffer is packed, each group once for the consecutive
// tasks that share it, and its k is not blocked for A's sake; unless a register block's rows are
// more than a vector (SSE's 6-row blocks against 4 lanes), which the packing copy cannot move.
TEST_P(GemmEmitterTest, DefaultTilingPacksATransposedA) {
  Case c;
  c.shape = {.m = 1000, .n = 70, .k = 300, .transpose_a = true};
  const GemmTiling tiling = ChooseGemmTiling(c.shape, isa_);
  const bool packs = tiling.mr <= isa_.lanes;
  EXPECT_EQ(tiling.pack_a, packs);
  EXPECT_TRUE(tiling.rows_outer);
  EXPECT_EQ(tiling.kc, packs ? 0 : 100);
  RunCases({c});
}

// Outputs three to four vectors wide take one 4-vector panel where the register file allows
// 6 x 4 (a convolution's weight gradient over few output channels, e.g. ResNet-18's stem, 49
// columns), instead of two 2-vector panels that would each read all of A.
TEST_P(GemmEmitterTest, DefaultTilingCoversFourVectorsInOnePanel) {
  Case c;
  c.shape = {.m = 64, .n = 3 * isa_.lanes + 1, .k = 700, .transpose_a = true};
  const GemmTiling tiling = ChooseGemmTiling(c.shape, isa_);
  if (isa_.registers >= 32) {
    EXPECT_EQ(tiling.mr, 6);
    EXPECT_EQ(tiling.nr_vectors, 4);
  } else {
    EXPECT_EQ(tiling.nr_vectors, 2);
  }
  c.shape.n = 2 * isa_.lanes;  // Two vectors: one 2-vector panel already.
  EXPECT_EQ(ChooseGemmTiling(c.shape, isa_).nr_vectors, 2);
  c.shape.n = 3 * isa_.lanes + 1;
  RunCases({c});
}

TEST_P(GemmEmitterTest, RunsLargeCase) {
  Case c;
  c.shape = {.m = 64, .n = 256, .k = 784};
  RunCases({c});
}

}  // namespace
}  // namespace kiln::cpu
