// GFLOP/s of kiln's generated GEMM kernels for the MLP shapes (forward, weight gradient A^T*B,
// input gradient A*B^T) and one large shape, on one thread and with the tasks split over two,
// and the single-thread figure as a share of this core's measured multiply-add peak
// (codegen/cpu/fma_peak.h).
//
//   kiln_gemm_bench                  # the table, default tiling, for this machine's CPU
//   kiln_gemm_bench --cpu=x86-64-v2  # kernels (and the peak) for another CPU this one can run
//   kiln_gemm_bench --sweep          # also tries register blocks and k blocks, best first
//   kiln_gemm_bench --asm=fwd        # the assembly of the matching shapes' kernels
//   kiln_gemm_bench --only=conv      # time only the matching shapes
//   kiln_gemm_bench --shape=512x640x784 --only=512x  # also an M x N x K shape of your own
//                                                    # (suffix t_a / t_b: a transposed operand)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "codegen/cpu/fma_peak.h"
#include "codegen/cpu/gemm_emitter.h"
#include "codegen/cpu/gemm_test_jit.h"
#include "codegen/cpu/llvm_target.h"
#include "codegen/cpu/vector_isa.h"
#include "runtime/kernel_abi.h"
#include "runtime/tensor.h"

namespace kiln::cpu {
namespace {

// The CPU the kernels are compiled for (--cpu=NAME, default native) and its vector ISA.
std::string g_cpu = "native";
VectorIsa g_isa;

struct BenchShape {
  const char* what;
  GemmShape shape;
};

const BenchShape kShapes[] = {
    {"fwd 784->256", {.m = 64, .n = 256, .k = 784}},
    {"fwd 256->128", {.m = 64, .n = 128, .k = 256}},
    {"fwd 128->10", {.m = 64, .n = 10, .k = 128}},
    {"dW1 = X^T dY", {.m = 784, .n = 256, .k = 64, .transpose_a = true}},
    {"dW2 = X^T dY", {.m = 256, .n = 128, .k = 64, .transpose_a = true}},
    {"dW3 = X^T dY", {.m = 128, .n = 10, .k = 64, .transpose_a = true}},
    {"dX2 = dY W^T", {.m = 64, .n = 256, .k = 128, .transpose_b = true}},
    {"dX3 = dY W^T", {.m = 64, .n = 128, .k = 10, .transpose_b = true}},
    {"big fwd", {.m = 512, .n = 4096, .k = 784}},
    // fashion_cnn's second convolution as GEMMs over im2col's patch matrix (batch 64, 14x14,
    // 32x3x3 -> 64): forward, input gradient, weight gradient.
    {"conv2 fwd", {.m = 12544, .n = 64, .k = 288, .transpose_b = true}},
    {"conv2 dcol", {.m = 12544, .n = 288, .k = 64}},
    {"conv2 dW", {.m = 64, .n = 288, .k = 12544, .transpose_a = true}},
    // bench/peers' wide MLP (784-4096-4096-10, batch 512): the 4096 x 4096 layer.
    {"wide fwd", {.m = 512, .n = 4096, .k = 4096}},
    {"wide dW", {.m = 4096, .n = 4096, .k = 512, .transpose_a = true}},
    {"wide dX", {.m = 512, .n = 4096, .k = 4096, .transpose_b = true}},
};

// Runs the upper half of a task range on a second, spinning thread, so that a split costs two
// cache-line handoffs rather than a thread start.
class TwoThreads {
 public:
  // Spinning forever would starve other processes on a shared machine (and be starved by them).
  static constexpr int kSpinsBeforeYield = 20000;

  TwoThreads() : worker_([this] { Work(); }) {}
  ~TwoThreads() {
    stop_.store(true);
    generation_.fetch_add(1, std::memory_order_release);
    worker_.join();
  }
  void Run(KilnTaskFn fn, void** slots, int64_t num_tasks) {
    fn_ = fn;
    slots_ = slots;
    split_ = num_tasks / 2;
    end_ = num_tasks;
    const int64_t generation = generation_.fetch_add(1, std::memory_order_release) + 1;
    fn(slots, 0, split_);
    for (int spins = 0; done_.load(std::memory_order_acquire) != generation; ++spins) {
      if (spins > kSpinsBeforeYield) std::this_thread::yield();
    }
  }

 private:
  void Work() {
    int64_t seen = 0;
    for (;;) {
      int64_t generation;
      for (int spins = 0; (generation = generation_.load(std::memory_order_acquire)) == seen;
           ++spins) {
        if (spins > kSpinsBeforeYield) std::this_thread::yield();
      }
      seen = generation;
      if (stop_.load()) return;
      fn_(slots_, split_, end_);
      done_.store(generation, std::memory_order_release);
    }
  }

  KilnTaskFn fn_ = nullptr;
  void** slots_ = nullptr;
  int64_t split_ = 0, end_ = 0;
  std::atomic<int64_t> generation_{0};
  std::atomic<int64_t> done_{0};
  std::atomic<bool> stop_{false};
  std::thread worker_;
};

// Time of one call of `run`, the fastest of 41 samples of at least ~0.5 ms each: `wall` in real
// time and `cpu` in the calling thread's CPU time. Short samples and the fastest, not the median,
// because this machine is shared: a sample only ever gets slower from that. The thread's CPU time
// leaves out the time it spends descheduled, which on a loaded machine is most of a long call.
struct Timing {
  double wall = 1e30;
  double cpu = 1e30;
};

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

template <typename Fn>
Timing TimePerCall(Fn run) {
  using Clock = std::chrono::steady_clock;
  run();
  int64_t reps = 1;
  for (;;) {
    auto start = Clock::now();
    for (int64_t i = 0; i < reps; ++i) run();
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (seconds > 5e-4) break;
    reps *= 2;
  }
  Timing best;
  for (int s = 0; s < 41; ++s) {
    const double cpu_start = ThreadCpuSeconds();
    const auto start = Clock::now();
    for (int64_t i = 0; i < reps; ++i) run();
    const double wall = std::chrono::duration<double>(Clock::now() - start).count();
    best.wall = std::min(best.wall, wall / reps);
    best.cpu = std::min(best.cpu, (ThreadCpuSeconds() - cpu_start) / reps);
  }
  return best;
}

// The operands live in the runtime's own buffers, so large ones get the pages a training step's
// tensors get (transparent huge pages; runtime/tensor.cc), which decide how a B panel's rows miss
// the TLB.
struct Buffers {
  kiln::runtime::AlignedBuffer a, b, c;
  void* slots[3];
  explicit Buffers(const GemmShape& s)
      : a(Allocate(s.m * s.k)), b(Allocate(s.k * s.n)), c(Allocate(s.m * s.n)) {
    std::mt19937 rng(1);
    Fill(a, s.m * s.k, rng);
    Fill(b, s.k * s.n, rng);
    slots[s.a_slot] = a.data();
    slots[s.b_slot] = b.data();
    slots[s.c_slot] = c.data();
  }
  static kiln::runtime::AlignedBuffer Allocate(int64_t floats) {
    auto buffer = kiln::runtime::AlignedBuffer::Allocate(floats * int64_t{sizeof(float)});
    if (!buffer.ok()) {
      std::fprintf(stderr, "%s\n", buffer.status().ToString().c_str());
      std::exit(1);
    }
    return std::move(*buffer);
  }
  static void Fill(const kiln::runtime::AlignedBuffer& buffer, int64_t floats, std::mt19937& rng) {
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    auto* x = static_cast<float*>(buffer.data());
    for (int64_t i = 0; i < floats; ++i) x[i] = dist(rng);
  }
};

// JIT-compiles one kernel per tiling (or the default tiling when `tilings` is empty), optionally
// returning the assembly.
std::vector<KilnTaskFn> Compile(const GemmShape& shape, const std::vector<GemmTiling>& tilings,
                                std::string* assembly = nullptr) {
  auto jit = GemmTestJit::Create(g_cpu);
  if (!jit.ok()) {
    std::fprintf(stderr, "%s\n", jit.status().ToString().c_str());
    std::exit(1);
  }
  auto context = std::make_unique<llvm::LLVMContext>();
  auto module = std::make_unique<llvm::Module>("bench", *context);
  const size_t count = tilings.empty() ? 1 : tilings.size();
  for (size_t i = 0; i < count; ++i) {
    std::string name = "gemm" + std::to_string(i);
    if (tilings.empty()) {
      EmitGemmKernel(*module, name, shape, nullptr, g_isa);
    } else {
      EmitGemmKernel(*module, name, shape, nullptr, g_isa, tilings[i]);
    }
  }
  absl::Status added = (*jit)->Add(std::move(context), std::move(module), nullptr, assembly);
  if (!added.ok()) {
    std::fprintf(stderr, "%s\n", added.ToString().c_str());
    std::exit(1);
  }
  std::vector<KilnTaskFn> fns;
  for (size_t i = 0; i < count; ++i) fns.push_back(*(*jit)->Lookup("gemm" + std::to_string(i)));
  // The JIT must outlive the code: it lives as long as the benchmark.
  static std::vector<std::unique_ptr<GemmTestJit>> keep_alive;
  keep_alive.push_back(std::move(*jit));
  return fns;
}

double Gflops(const GemmShape& s, double seconds) { return 2.0 * s.m * s.n * s.k / seconds * 1e-9; }

// Register blocks worth sweeping: for 1 to 4 vectors of B, the tallest block whose accumulators,
// B vectors and broadcast fit the register file and the one a row shorter; with AVX-512's 32
// registers also the blocks measured before (some of which exceed the budget on purpose).
std::vector<std::pair<int, int>> SweepBlocks() {
  std::vector<std::pair<int, int>> blocks;
  for (int nv = 1; nv <= 4; ++nv) {
    const int mr = (g_isa.registers - nv - 1 - (g_isa.fma ? 0 : 1)) / nv;
    for (int r : {mr, mr - 1}) {
      if (r >= 1) blocks.push_back({std::min(r, 16), nv});
    }
  }
  if (g_isa.registers >= 32) {
    for (auto block : {std::pair{6, 2}, {8, 2}, {12, 2}, {6, 4}, {8, 3}, {16, 1}}) {
      blocks.push_back(block);
    }
  }
  std::sort(blocks.begin(), blocks.end());
  blocks.erase(std::unique(blocks.begin(), blocks.end()), blocks.end());
  return blocks;
}

void Sweep(const BenchShape& bench) {
  const GemmShape& s = bench.shape;
  std::vector<GemmTiling> tilings;
  for (auto [mr, nv] : SweepBlocks()) {
    for (int64_t kc : {int64_t{0}, int64_t{128}, int64_t{196}, int64_t{256}}) {
      for (bool pack : {false, true}) {
        for (bool pack_a : {false, true}) {
          for (bool kblocks_outer : {false, true}) {
            if (kc != 0 && kc >= s.k) continue;
            if (pack_a && (!s.transpose_a || mr > g_isa.lanes)) continue;
            // k blocks outside the tasks need k blocks, and never come with a packed A.
            if (kblocks_outer && (kc == 0 || pack_a)) continue;
            GemmTiling t = ChooseGemmTiling(s, g_isa);
            t.mr = mr;
            t.nr_vectors = nv;
            t.kc = kc;
            t.pack_b = pack;
            t.pack_a = pack_a;
            t.kblocks_outer = kblocks_outer;
            t.rows_outer = pack_a || t.rows_outer;
            t.rows_per_task = (t.rows_per_task + mr - 1) / mr * mr;
            if (pack_a && PackedABytes(s, t) > kMaxPackedABytes) continue;  // Too big a stack.
            tilings.push_back(t);
          }
        }
      }
    }
  }
  std::vector<KilnTaskFn> fns = Compile(s, tilings);
  Buffers buffers(s);
  std::vector<std::pair<double, size_t>> results;
  for (size_t i = 0; i < fns.size(); ++i) {
    const int64_t tasks = GemmNumTasks(s, g_isa, tilings[i]);
    Timing timing = TimePerCall([&] { fns[i](buffers.slots, 0, tasks); });
    results.push_back({Gflops(s, timing.cpu), i});
  }
  std::sort(results.rbegin(), results.rend());
  std::printf("sweep %s (m=%ld n=%ld k=%ld), 1T GFLOP/s by thread CPU time:\n", bench.what,
              s.m, s.n, s.k);
  for (size_t r = 0; r < std::min<size_t>(results.size(), 8); ++r) {
    const GemmTiling& t = tilings[results[r].second];
    std::printf(
        "  %6.1f GFLOP/s  mr=%d nv=%d kc=%ld rows/task=%ld pack_b=%d pack_a=%d kblocks_outer=%d\n",
        results[r].first, t.mr, t.nr_vectors, t.kc, t.rows_per_task, t.pack_b, t.pack_a,
        t.kblocks_outer);
  }
}

// The multiply-add peak of one core in GFLOP/s, by thread CPU time as the kernels' "1T cpu":
// the fastest of the chain counts.
double MeasurePeakGflops() {
  double best = 0.0;
  int best_chains = 0;
  for (int chains : FmaChainCounts(g_isa)) {
    auto loop = CompileFmaLoop(g_cpu, chains);
    if (!loop.ok()) {
      std::fprintf(stderr, "%s\n", loop.status().ToString().c_str());
      std::exit(1);
    }
    constexpr int64_t kIterations = 100000;
    Timing timing = TimePerCall([&] { loop->fn(loop->out, 0, kIterations); });
    const double gflops = loop->flops_per_iteration * kIterations / timing.cpu * 1e-9;
    if (gflops > best) best = gflops, best_chains = chains;
  }
  std::printf("peak: %.1f GFLOP/s on one core, measured (%d independent multiply-add chains)\n",
              best, best_chains);
  return best;
}

// The value of --NAME=VALUE or --NAME among the arguments (`fallback` when absent).
std::string Flag(int argc, char** argv, const std::string& name, const std::string& fallback) {
  const std::string bare = "--" + name, prefix = bare + "=";
  for (int i = 1; i < argc; ++i) {
    if (argv[i] == bare) return "";
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) return argv[i] + prefix.size();
  }
  return fallback;
}

// --shape=MxNxK[t_a][t_b]: a shape of the user's own.
std::optional<GemmShape> ParseShape(const std::string& text) {
  GemmShape shape;
  char rest[8] = "";
  if (std::sscanf(text.c_str(), "%ldx%ldx%ld%7s", &shape.m, &shape.n, &shape.k, rest) < 3 ||
      shape.m <= 0 || shape.n <= 0 || shape.k <= 0) {
    return std::nullopt;
  }
  const std::string suffix = rest;
  shape.transpose_a = suffix.find("t_a") != std::string::npos;
  shape.transpose_b = suffix.find("t_b") != std::string::npos;
  return shape;
}

int Main(int argc, char** argv) {
  constexpr char kAbsent[] = "\x01";
  std::vector<BenchShape> shapes(std::begin(kShapes), std::end(kShapes));
  const std::string custom = Flag(argc, argv, "shape", kAbsent);
  if (custom != kAbsent) {
    std::optional<GemmShape> shape = ParseShape(custom);
    if (!shape) {
      std::fprintf(stderr, "--shape=%s: expected MxNxK, e.g. 512x640x784 or 64x288x12544t_a\n",
                   custom.c_str());
      return 1;
    }
    shapes.push_back({custom.c_str(), *shape});  // Named by the flag's text, which outlives it.
  }
  g_cpu = Flag(argc, argv, "cpu", "native");
  auto target = CreateTargetMachine(g_cpu);
  if (!target.ok()) {
    std::fprintf(stderr, "%s\n", target.status().ToString().c_str());
    return 1;
  }
  g_isa = VectorIsaOf(**target);
  // --sweep[=SUBSTRING]: sweep the shapes whose description contains SUBSTRING (default: all
  // but the big one, whose sweep takes minutes).
  const std::string sweep_filter = Flag(argc, argv, "sweep", kAbsent);
  const bool sweep = sweep_filter != kAbsent;
  // --asm=SUBSTRING: print the assembly of the default kernel of the matching shapes and stop.
  const std::string asm_filter = Flag(argc, argv, "asm", kAbsent);
  if (asm_filter != kAbsent) {
    for (const BenchShape& bench : shapes) {
      if (std::string(bench.what).find(asm_filter) == std::string::npos) continue;
      std::string assembly;
      Compile(bench.shape, {}, &assembly);
      std::printf("%s", assembly.c_str());
    }
    return 0;
  }
  // --only=SUBSTRING: time only the shapes whose description contains SUBSTRING.
  const std::string only = Flag(argc, argv, "only", "");
  TwoThreads two;
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  std::printf("load average %.1f (2T numbers are meaningless when it is well above 2)\n", load[0]);
  std::printf("cpu %s: %s\n", g_cpu.c_str(), g_isa.Describe().c_str());
  const double peak = MeasurePeakGflops();
  std::printf("%-14s %5s %5s %5s %3s %3s %6s %9s %9s %9s %7s %9s %7s\n", "shape", "M", "N", "K",
              "tA", "tB", "tasks", "1T us", "1T GF/s", "1T cpu", "% peak", "2T GF/s", "2T/1T");
  for (const BenchShape& bench : shapes) {
    if (std::string(bench.what).find(only) == std::string::npos) continue;
    const GemmShape& s = bench.shape;
    KilnTaskFn fn = Compile(s, {})[0];
    Buffers buffers(s);
    const int64_t tasks = GemmNumTasks(s, g_isa);
    Timing one = TimePerCall([&] { fn(buffers.slots, 0, tasks); });
    Timing both = TimePerCall([&] { two.Run(fn, buffers.slots, tasks); });
    std::printf("%-14s %5ld %5ld %5ld %3d %3d %6ld %9.2f %9.1f %9.1f %6.0f%% %9.1f %7.2f\n",
                bench.what, s.m, s.n, s.k, s.transpose_a, s.transpose_b, tasks, one.wall * 1e6,
                Gflops(s, one.wall), Gflops(s, one.cpu), 100.0 * Gflops(s, one.cpu) / peak,
                Gflops(s, both.wall), one.wall / both.wall);
  }
  if (sweep) {
    for (const BenchShape& bench : shapes) {
      const std::string what = bench.what;
      if (sweep_filter.empty() ? what.find("big") != std::string::npos
                               : what.find(sweep_filter) == std::string::npos) {
        continue;
      }
      Sweep(bench);
    }
  }
  return 0;
}

}  // namespace
}  // namespace kiln::cpu

int main(int argc, char** argv) { return kiln::cpu::Main(argc, argv); }
