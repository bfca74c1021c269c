#include "tools/bench_report.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

namespace kiln::tools {
namespace {

// The nearest-rank percentile of sorted samples.
double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0.0;
  const size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * sorted.size()));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

std::string Shortened(std::string text, size_t width) {
  if (text.size() <= width) return text;
  return text.substr(0, width - 1) + "~";
}

llvm::json::Object SpreadJson(const Spread& s) {
  return llvm::json::Object{
      {"p10_us", s.p10}, {"p50_us", s.p50}, {"p90_us", s.p90}, {"runs", s.runs},
      {"mean_us", s.mean}};
}

double Number(const llvm::json::Object& o, llvm::StringRef key) {
  return o.getNumber(key).value_or(0.0);
}

std::string Text(const llvm::json::Object& o, llvm::StringRef key) {
  auto s = o.getString(key);
  return s ? s->str() : "";
}

Spread SpreadFrom(const llvm::json::Object* o) {
  if (o == nullptr) return {};
  return {Number(*o, "p10_us"), Number(*o, "p50_us"), Number(*o, "p90_us"),
          static_cast<int>(Number(*o, "runs")), Number(*o, "mean_us")};
}

void PrintHeader(const BenchReport& r, std::ostream& out) {
  out << absl::StrFormat("%s: %s step, batch %d, %s, kiln %s\n", r.model, r.mode, r.batch_size,
                         r.device, r.version);
  out << "target: " << r.target << "\n";
  out << "method: " << r.method << "\n";
  out << "roofline: " << r.roofline_source << "\n";
  out << absl::StrFormat(
      "step: p50 %.1f us (p10-p90 %.1f-%.1f, %d runs); sum of kernel p50s %.1f us\n\n",
      r.step_us.p50, r.step_us.p10, r.step_us.p90, r.step_us.runs, r.KernelSumUs());
}

// "1.55x faster" or "1.02x slower": the fused step against the unfused one.
std::string SpeedUp(double unfused_us, double fused_us) {
  if (fused_us <= 0 || unfused_us <= 0) return "not measured";
  if (unfused_us >= fused_us) return absl::StrFormat("%.2fx faster", unfused_us / fused_us);
  return absl::StrFormat("%.2fx slower", fused_us / unfused_us);
}

void PrintUnfusedSummary(const BenchReport& r, std::ostream& out) {
  if (!r.have_unfused) return;
  double fused_bytes = 0.0, unfused_bytes = 0.0;
  for (const BenchKernel& k : r.kernels) fused_bytes += k.bytes, unfused_bytes += k.unfused_bytes;
  out << absl::StrFormat(
      "\nfused vs unfused (one op per kernel): step p50 %.1f us vs %.1f us: %s;\n"
      "  kernels %d vs %d, sum of kernel p50s %.1f us vs %.1f us; minimum traffic %.1f KB vs "
      "%.1f KB (%.1f KB saved)\n"
      "  correctness gate: outputs and updated tensors agree to max abs %.3g, relative L2 %.3g "
      "(limit %.0e)\n",
      r.step_us.p50, r.unfused_step_us.p50, SpeedUp(r.unfused_step_us.p50, r.step_us.p50),
      static_cast<int>(r.kernels.size()), r.unfused_kernel_count, r.KernelSumUs(),
      r.unfused_kernel_sum_us, fused_bytes / 1e3, unfused_bytes / 1e3,
      (unfused_bytes - fused_bytes) / 1e3, r.max_abs_diff, r.max_rel_diff, kGateRelativeLimit);
}

}  // namespace

Spread SpreadOf(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  double sum = 0.0;
  for (double sample : samples) sum += sample;
  return {Percentile(samples, 10), Percentile(samples, 50), Percentile(samples, 90),
          static_cast<int>(samples.size()), samples.empty() ? 0.0 : sum / samples.size()};
}

double Roofline::BoundGflops(double intensity) const {
  return std::min(gflops, intensity * bandwidth_gbs);
}

double BenchReport::KernelSumUs() const {
  double sum = 0.0;
  for (const BenchKernel& k : kernels) sum += k.time_us.p50;
  return sum;
}

void PrintBenchReport(const BenchReport& r, std::ostream& out) {
  PrintHeader(r, out);
  out << absl::StrFormat("%-28s %-9s %-24s %9s %17s %5s %9s %9s %8s %7s %6s", "kernel", "phase",
                         "ops", "p50 us", "p10-p90 us", "runs", "MFLOP", "KB", "GFLOP/s", "GB/s",
                         "AI");
  if (r.have_roofline) out << absl::StrFormat(" %8s %6s %-7s", "roof GF", "%roof", "bound");
  if (r.have_unfused) out << absl::StrFormat(" %10s %7s %9s", "unfused us", "speedup", "saved KB");
  out << "\n";
  for (const BenchKernel& k : r.kernels) {
    out << absl::StrFormat("%-28s %-9s %-24s %9.2f %8.2f-%-8.2f %5d %9.3f %9.1f %8.2f %7.2f %6.2f",
                           Shortened(k.name, 28), k.phase,
                           Shortened(k.ops.empty() ? "-" : absl::StrJoin(k.ops, ","), 24),
                           k.time_us.p50, k.time_us.p10, k.time_us.p90, k.time_us.runs,
                           k.flops / 1e6, k.bytes / 1e3, k.Gflops(), k.Gbs(), k.Intensity());
    if (r.have_roofline) {
      const double bound = r.roofline.BoundGflops(k.Intensity());
      out << absl::StrFormat(" %8.1f %5.1f%% %-7s", bound,
                             bound > 0 ? 100.0 * k.Gflops() / bound : 0.0,
                             r.roofline.MemoryBound(k.Intensity()) ? "memory" : "compute");
    }
    if (r.have_unfused && k.unfused_kernels > 0) {
      out << absl::StrFormat(" %10.2f %6.2fx %9.1f", k.unfused_us, k.unfused_us / k.time_us.p50,
                             (k.unfused_bytes - k.bytes) / 1e3);
    }
    out << "\n";
  }
  PrintUnfusedSummary(r, out);
}

std::string BenchReportToJson(const BenchReport& r) {
  llvm::json::Array kernels;
  for (const BenchKernel& k : r.kernels) {
    llvm::json::Array ops;
    for (const std::string& op : k.ops) ops.push_back(op);
    llvm::json::Object o{{"name", k.name},
                         {"phase", k.phase},
                         {"ops", std::move(ops)},
                         {"launch", k.launch},
                         {"time", SpreadJson(k.time_us)},
                         {"flops", k.flops},
                         {"bytes", k.bytes},
                         {"gflops", k.Gflops()},
                         {"gbs", k.Gbs()},
                         {"intensity", k.Intensity()}};
    if (r.have_roofline) {
      const double bound = r.roofline.BoundGflops(k.Intensity());
      o["roofline_gflops"] = bound;
      o["roofline_percent"] = bound > 0 ? 100.0 * k.Gflops() / bound : 0.0;
      o["bound"] = r.roofline.MemoryBound(k.Intensity()) ? "memory" : "compute";
    }
    if (r.have_unfused) {
      o["unfused_kernels"] = k.unfused_kernels;
      o["unfused_us"] = k.unfused_us;
      o["unfused_bytes"] = k.unfused_bytes;
    }
    kernels.push_back(std::move(o));
  }
  llvm::json::Object root{{"schema", "kiln-bench/1"},
                          {"model", r.model},
                          {"mode", r.mode},
                          {"batch_size", r.batch_size},
                          {"device", r.device},
                          {"threads", r.threads},
                          {"target", r.target},
                          {"version", r.version},
                          {"cold_cache", r.cold_cache},
                          {"evict_bytes", r.evict_bytes},
                          {"budget_ms", r.budget_ms},
                          {"method", r.method},
                          {"roofline_source", r.roofline_source},
                          {"step", SpreadJson(r.step_us)},
                          {"kernel_sum_us", r.KernelSumUs()},
                          {"kernels", std::move(kernels)}};
  if (r.have_roofline) {
    root["roofline"] = llvm::json::Object{{"gflops", r.roofline.gflops},
                                          {"bandwidth_gbs", r.roofline.bandwidth_gbs}};
  }
  if (r.have_unfused) {
    root["unfused"] = llvm::json::Object{{"step", SpreadJson(r.unfused_step_us)},
                                         {"kernels", r.unfused_kernel_count},
                                         {"kernel_sum_us", r.unfused_kernel_sum_us},
                                         {"max_abs_diff", r.max_abs_diff},
                                         {"max_rel_diff", r.max_rel_diff}};
  }
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(root)));
  os.flush();
  return text + "\n";
}

absl::StatusOr<BenchReport> BenchReportFromJson(const std::string& json) {
  llvm::Expected<llvm::json::Value> parsed = llvm::json::parse(json);
  if (!parsed) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a kiln bench JSON report: ", llvm::toString(parsed.takeError())));
  }
  const llvm::json::Object* root = parsed->getAsObject();
  if (root == nullptr || Text(*root, "schema") != "kiln-bench/1") {
    return absl::InvalidArgumentError("not a kiln bench JSON report (schema kiln-bench/1)");
  }
  BenchReport r;
  r.model = Text(*root, "model");
  r.mode = Text(*root, "mode");
  r.batch_size = static_cast<int64_t>(Number(*root, "batch_size"));
  r.device = Text(*root, "device");
  r.threads = static_cast<int>(Number(*root, "threads"));
  r.target = Text(*root, "target");
  r.version = Text(*root, "version");
  r.method = Text(*root, "method");
  r.step_us = SpreadFrom(root->getObject("step"));
  if (const llvm::json::Array* kernels = root->getArray("kernels")) {
    for (const llvm::json::Value& value : *kernels) {
      const llvm::json::Object* o = value.getAsObject();
      if (o == nullptr) return absl::InvalidArgumentError("kernels[] holds a non-object");
      BenchKernel k;
      k.name = Text(*o, "name");
      k.phase = Text(*o, "phase");
      k.launch = Text(*o, "launch");
      k.time_us = SpreadFrom(o->getObject("time"));
      k.flops = Number(*o, "flops");
      k.bytes = Number(*o, "bytes");
      r.kernels.push_back(std::move(k));
    }
  }
  return r;
}

std::vector<Regression> FindRegressions(const BenchReport& base, const BenchReport& now) {
  std::map<std::string, Spread> before;
  for (const BenchKernel& k : base.kernels) before[k.name] = k.time_us;
  std::vector<Regression> slower;
  for (const BenchKernel& k : now.kernels) {
    auto it = before.find(k.name);
    if (it == before.end()) continue;
    const Spread& b = it->second;
    const bool ranges_apart = k.time_us.p10 > b.p90;
    const bool median_moved = k.time_us.p50 > 1.10 * b.p50;
    if (ranges_apart && median_moved) slower.push_back({k.name, b, k.time_us});
  }
  return slower;
}

void StepDifference::Add(const std::string& name, const float* fused, const float* unfused,
                         int64_t n) {
  double largest_abs = 0.0, diff_squares = 0.0, reference_squares = 0.0;
  bool nan = false;
  for (int64_t i = 0; i < n; ++i) {
    const double diff = std::fabs(static_cast<double>(fused[i]) - unfused[i]);
    nan |= std::isnan(diff);
    largest_abs = std::max(largest_abs, diff);
    diff_squares += diff * diff;
    reference_squares += static_cast<double>(unfused[i]) * unfused[i];
  }
  double rel = reference_squares > 0 ? std::sqrt(diff_squares / reference_squares)
                                     : std::sqrt(diff_squares);
  // std::max drops NaN; one NaN where the other step has a number is the worst disagreement.
  if (nan) rel = std::numeric_limits<double>::quiet_NaN();
  abs = std::max(abs, largest_abs);
  if (rel > this->rel || std::isnan(rel)) this->rel = rel, where = name;
}

absl::Status CheckAgreement(const StepDifference& d, double relative_limit) {
  if (d.rel <= relative_limit) return absl::OkStatus();
  return absl::InternalError(absl::StrFormat(
      "bench: fused and unfused steps disagree: '%s' differs by %.3g relative (max abs %.3g; "
      "limit %.0e)",
      d.where, d.rel, d.abs, relative_limit));
}

}  // namespace kiln::tools
