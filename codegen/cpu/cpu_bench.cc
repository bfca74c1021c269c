#include "codegen/cpu/cpu_bench.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_format.h"
#include "codegen/cpu/fma_peak.h"
#include "codegen/cpu/vector_isa.h"
#include "support/status.h"

namespace kiln::cpu {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Task i of n rewrites the i-th slice of slots[0] (the buffer, length in slots[1], byte in
// slots[2]).
void EvictSlice(void** slots, int64_t begin, int64_t end) {
  auto* data = static_cast<char*>(slots[0]);
  const int64_t size = *static_cast<int64_t*>(slots[1]);
  const int64_t tasks = *static_cast<int64_t*>(slots[3]);
  const char value = *static_cast<char*>(slots[2]);
  for (int64_t task = begin; task < end; ++task) {
    // A read-modify-write of every cache line: memset of large ranges may use non-temporal
    // stores, which bypass the caches and so would evict nothing.
    const int64_t lo = size * task / tasks, hi = size * (task + 1) / tasks;
    for (int64_t i = lo; i < hi; i += 64) data[i] = static_cast<char>(data[i] + value);
  }
}

struct TriadArrays {
  std::vector<float> a, b, c;
};

// a = b + 3c over task i's slice of the arrays.
void TriadSlice(void** slots, int64_t begin, int64_t end) {
  auto* arrays = static_cast<TriadArrays*>(slots[0]);
  const int64_t tasks = *static_cast<int64_t*>(slots[1]);
  const int64_t n = static_cast<int64_t>(arrays->a.size());
  float* a = arrays->a.data();
  const float* b = arrays->b.data();
  const float* c = arrays->c.data();
  for (int64_t task = begin; task < end; ++task) {
    for (int64_t i = n * task / tasks, hi = n * (task + 1) / tasks; i < hi; ++i) {
      a[i] = b[i] + 3.0f * c[i];
    }
  }
}

struct FmaRun {
  KilnTaskFn fn = nullptr;
  int64_t iterations = 0;
};

// Each task runs the whole FMA loop into sums of its own.
void FmaTask(void** slots, int64_t begin, int64_t end) {
  const auto* run = static_cast<const FmaRun*>(slots[0]);
  for (int64_t task = begin; task < end; ++task) {
    float sums[64];
    void* out[1] = {sums};
    run->fn(out, 0, run->iterations);
  }
}

template <typename Fn>
double BestSeconds(int rounds, Fn&& fn) {
  double best = 1e300;
  for (int r = 0; r < rounds; ++r) {
    const auto start = Clock::now();
    fn();
    best = std::min(best, SecondsSince(start));
  }
  return best;
}

}  // namespace

CacheEvictor::CacheEvictor(int64_t bytes) : buffer_(static_cast<size_t>(bytes)) {}

void CacheEvictor::Evict(const KilnParallel* parallel) {
  ++value_;
  int64_t size = static_cast<int64_t>(buffer_.size());
  int64_t tasks = 64;
  void* slots[4] = {buffer_.data(), &size, &value_, &tasks};
  parallel->run(parallel->pool, EvictSlice, slots, tasks);
}

std::vector<double> SampleMicroseconds(const codegen::BenchOptions& options, CacheEvictor& evictor,
                                       const KilnParallel* parallel,
                                       const std::function<void()>& call) {
  for (int i = 0; i < 3; ++i) call();  // Wake the pool, fault in pages, fill the predictors.
  std::vector<double> samples;
  const auto budget_start = Clock::now();
  while (static_cast<int>(samples.size()) < options.max_runs) {
    if (static_cast<int>(samples.size()) >= options.min_runs &&
        SecondsSince(budget_start) * 1e3 >= options.budget_ms) {
      break;
    }
    if (options.cold_cache) evictor.Evict(parallel);
    const auto start = Clock::now();
    call();
    samples.push_back(SecondsSince(start) * 1e6);
  }
  return samples;
}

absl::StatusOr<codegen::MachinePeak> MeasureHostPeak(const KilnParallel* parallel, int threads,
                                                     const std::string& cpu) {
  codegen::MachinePeak peak;
  peak.threads = threads;
  // The chain count that keeps one core's FMA units busiest, then that loop on every thread.
  KILN_ASSIGN_OR_RETURN(FmaLoop probe, CompileFmaLoop(cpu, 8));
  double best_rate = 0.0;
  FmaLoop best;
  constexpr int64_t kProbeIterations = 1 << 20;
  for (int chains : FmaChainCounts(probe.jit->isa())) {
    KILN_ASSIGN_OR_RETURN(FmaLoop loop, CompileFmaLoop(cpu, chains));
    const double s = BestSeconds(3, [&] { loop.fn(loop.out, 0, kProbeIterations); });
    const double rate = loop.flops_per_iteration * kProbeIterations / s;
    if (rate > best_rate) best_rate = rate, best = std::move(loop);
  }
  FmaRun run{best.fn, 1 << 23};
  void* fma_slots[1] = {&run};
  const double fma_s =
      BestSeconds(5, [&] { parallel->run(parallel->pool, FmaTask, fma_slots, threads); });
  peak.gflops = best.flops_per_iteration * run.iterations * threads / fma_s / 1e9;

  // 3 x 64 MiB: far past any last-level cache this is meant for.
  TriadArrays arrays;
  const size_t n = size_t{16} << 20;
  arrays.a.assign(n, 0.0f);
  arrays.b.assign(n, 1.0f);
  arrays.c.assign(n, 2.0f);
  int64_t tasks = 64;
  void* triad_slots[2] = {&arrays, &tasks};
  const double triad_s =
      BestSeconds(8, [&] { parallel->run(parallel->pool, TriadSlice, triad_slots, tasks); });
  peak.bandwidth_gbs = 3.0 * sizeof(float) * n / triad_s / 1e9;
  peak.method = absl::StrFormat(
      "FMA: %d-chain %d-lane loop on %d threads, best of 5; bandwidth: triad over 3 x %d MiB, "
      "best of 8 (bytes read + written, no write-allocate)",
      best.chains, probe.jit->isa().lanes, threads, static_cast<int>(n * sizeof(float) >> 20));
  return peak;
}

}  // namespace kiln::cpu
