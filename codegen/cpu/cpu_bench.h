// Host-side measurement for `kiln bench`: sampling a call under a time budget with the caches
// optionally evicted before each run, and the machine's FP32 multiply-add rate and memory
// bandwidth on a thread pool, for the roofline.
//
//   CacheEvictor evictor(options.evict_bytes);
//   std::vector<double> us = SampleMicroseconds(options, &evictor, parallel, [&] { kernel(); });
#ifndef KILN_CODEGEN_CPU_CPU_BENCH_H_
#define KILN_CODEGEN_CPU_CPU_BENCH_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/backend.h"
#include "runtime/kernel_abi.h"

namespace kiln::cpu {

// Writes a buffer larger than the last-level cache on every thread of the pool, so the next
// run finds its operands in memory, not in a cache the previous run warmed.
class CacheEvictor {
 public:
  explicit CacheEvictor(int64_t bytes);
  void Evict(const KilnParallel* parallel);

 private:
  std::vector<char> buffer_;
  char value_ = 0;
};

// Three warm-up calls, then timed calls until `options.budget_ms` of wall time is spent (at
// least min_runs, at most max_runs). With options.cold_cache, `evictor` runs before each call,
// outside the timed region.
std::vector<double> SampleMicroseconds(const codegen::BenchOptions& options, CacheEvictor& evictor,
                                       const KilnParallel* parallel,
                                       const std::function<void()>& call);

// FP32 multiply-add throughput (the FMA loop generated for `cpu`, "native" or an LLVM CPU name
// this machine can run, on every thread) and a triad's bandwidth (a[i] = b[i] + s * c[i] over
// arrays far larger than the caches), on `parallel`.
absl::StatusOr<codegen::MachinePeak> MeasureHostPeak(const KilnParallel* parallel, int threads,
                                                     const std::string& cpu);

}  // namespace kiln::cpu

#endif  // KILN_CODEGEN_CPU_CPU_BENCH_H_
