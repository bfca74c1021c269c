// What `kiln bench` measured, and everything derived from it: the spread of each kernel's runs,
// its place on the roofline, the unfused kernels it replaces; printed as a table, written and
// read as JSON, and compared against an earlier run.
//
//   BenchReport report = ...;                       // filled by tools/bench_command.cc
//   PrintBenchReport(report, std::cout);
//   KILN_RETURN_IF_ERROR(WriteFileAtomically(path, BenchReportToJson(report)));
//   KILN_ASSIGN_OR_RETURN(BenchReport base, BenchReportFromJson(text));
//   std::vector<Regression> slower = FindRegressions(base, report);
#ifndef KILN_TOOLS_BENCH_REPORT_H_
#define KILN_TOOLS_BENCH_REPORT_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::tools {

// Percentiles and the mean of a set of timed runs, in microseconds. The mean carries the runs
// an interrupt or a lost core slowed down, as a long loop of steps (an epoch) does.
struct Spread {
  double p10 = 0.0;
  double p50 = 0.0;
  double p90 = 0.0;
  int runs = 0;
  double mean = 0.0;
};
Spread SpreadOf(std::vector<double> samples);

// The machine's roofline: FP32 peak and memory bandwidth, as calibrated.
struct Roofline {
  double gflops = 0.0;
  double bandwidth_gbs = 0.0;
  // min(peak, AI x bandwidth) in GFLOP/s for a kernel of this arithmetic intensity (FLOP/byte).
  double BoundGflops(double intensity) const;
  // Memory-bound when AI x bandwidth is the smaller term.
  bool MemoryBound(double intensity) const { return intensity * bandwidth_gbs < gflops; }
};

struct BenchKernel {
  std::string name;
  std::string phase;  // forward, loss, backward, optimizer.
  std::vector<std::string> ops;
  std::string launch;
  Spread time_us;
  double flops = 0.0;
  double bytes = 0.0;
  // The one-op-per-kernel kernels computing the same ops (when the unfused step was timed).
  int unfused_kernels = 0;
  double unfused_us = 0.0;     // Sum of their medians.
  double unfused_bytes = 0.0;  // Sum of their minimum traffic.

  double Gflops() const { return time_us.p50 > 0 ? flops / time_us.p50 / 1e3 : 0.0; }
  double Gbs() const { return time_us.p50 > 0 ? bytes / time_us.p50 / 1e3 : 0.0; }
  double Intensity() const { return bytes > 0 ? flops / bytes : 0.0; }
};

struct BenchReport {
  std::string model;
  std::string mode;  // train | eval.
  int64_t batch_size = 0;
  std::string device;  // "2 threads".
  int threads = 0;
  std::string target;   // CPU name, e.g. "znver3 (AMD EPYC 7B13)".
  std::string version;  // kiln version and commit.
  bool cold_cache = true;
  int64_t evict_bytes = 0;
  double budget_ms = 0.0;
  std::string method;  // One sentence: how runs were taken.
  bool have_roofline = false;
  Roofline roofline;
  std::string roofline_source;  // Where the peak figures came from, or why there are none.
  Spread step_us;
  std::vector<BenchKernel> kernels;
  // Fused vs unfused (when measured).
  bool have_unfused = false;
  Spread unfused_step_us;
  int unfused_kernel_count = 0;
  double unfused_kernel_sum_us = 0.0;
  double max_abs_diff = 0.0;
  double max_rel_diff = 0.0;

  double KernelSumUs() const;
};

void PrintBenchReport(const BenchReport& report, std::ostream& out);

std::string BenchReportToJson(const BenchReport& report);
absl::StatusOr<BenchReport> BenchReportFromJson(const std::string& json);

// A kernel slower than in `base` beyond the noise: the p10-p90 ranges do not overlap and the
// median moved by more than 10%. Kernels are matched by name.
struct Regression {
  std::string name;
  Spread base;
  Spread now;
};
std::vector<Regression> FindRegressions(const BenchReport& base, const BenchReport& now);

// The fused-vs-unfused correctness gate: the largest disagreement over every tensor both steps
// produce, as the relative L2 difference ||a-b|| / ||b|| per tensor (so a tensor of tiny values
// is judged on its scale; tests/golden holds kiln to PyTorch in the same norm).
struct StepDifference {
  double abs = 0.0;   // The largest |a-b| of any element, for the report.
  double rel = 0.0;   // The largest relative L2 difference of any tensor.
  std::string where;  // The tensor with the largest relative difference.
  // Folds in tensor `name`: `fused` against the reference `unfused`, n elements each.
  void Add(const std::string& name, const float* fused, const float* unfused, int64_t n);
};
// Fails naming the tensor when `d.rel` exceeds `relative_limit` (or is NaN).
absl::Status CheckAgreement(const StepDifference& d, double relative_limit);

// The limit kiln bench holds the fused step to. The two programs round differently wherever
// fusion reorders a sum (a reduction walked in its operand's memory order), and training-mode
// batch norm amplifies such roundings in gradients that nearly cancel: ResNet-18's layer1
// batch-norm gradients differ by up to 9e-4 of their norm in Adam's exp_avg_sq (g squared:
// twice the gradient's relative difference), on the order of the 1e-3 to which tests/golden
// holds kiln to PyTorch. A fusion bug (a wrong index, a lost operand) is off by far more.
inline constexpr double kGateRelativeLimit = 1e-2;

}  // namespace kiln::tools

#endif  // KILN_TOOLS_BENCH_REPORT_H_
