// `kiln bench FILE`: every fused kernel of a step timed alone, many times (cold caches by
// default), placed on the machine's measured roofline and compared with the same step compiled
// one op per kernel; `--calibrate` measures the roofline. See docs/cli.md for the columns.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "codegen/kernel_origin.h"
#include "frontend/frontend.h"
#include "ir/op_registry.h"
#include "passes/fuse_kernels.h"
#include "support/command_line.h"
#include "support/file_io.h"
#include "support/status.h"
#include "tools/backend_registry.h"
#include "tools/bench_report.h"
#include "tools/commands.h"
#include "tools/compile_pipeline.h"
#include "tools/machine_profile.h"
#include "tools/version_line.h"

namespace kiln::tools {
namespace {

struct BenchFlags {
  std::string file;
  bool training = true;
  std::optional<int64_t> batch_size;
  int threads = 0;
  std::string device = "cpu";
  std::string cpu = "native";  // The CPU the code is generated for (--cpu).
  std::string json_path;
  std::string compare_path;
  bool calibrate = false;
  bool unfused = true;
  bool use_cache = true;  // The persistent code cache (--no-cache).
  codegen::BenchOptions options;
};

absl::StatusOr<BenchFlags> ParseBenchFlags(const std::vector<std::string>& args) {
  KILN_ASSIGN_OR_RETURN(
      CommandLine line,
      CommandLine::Parse(
          args, {"batch-size", "threads", "mode", "device", "cpu", "json", "compare", "budget-ms"},
          {"cold", "warm", "calibrate", "no-unfused", "no-cache"}));
  BenchFlags flags;
  flags.calibrate = line.Has("calibrate");
  if (line.positional().size() > 1 || (line.positional().empty() && !flags.calibrate)) {
    return absl::InvalidArgumentError("usage: kiln bench FILE [options] | kiln bench --calibrate");
  }
  if (!line.positional().empty()) flags.file = line.positional()[0];
  const std::string mode = line.String("mode").value_or("train");
  if (mode != "train" && mode != "eval") {
    return absl::InvalidArgumentError(
        absl::StrCat("--mode: expected train or eval, got '", mode, "'"));
  }
  if (line.Has("cold") && line.Has("warm")) {
    return absl::InvalidArgumentError("--cold and --warm: pick one");
  }
  flags.training = mode == "train";
  KILN_ASSIGN_OR_RETURN(flags.batch_size, line.Int("batch-size"));
  KILN_ASSIGN_OR_RETURN(auto threads, line.Int("threads"));
  flags.threads = static_cast<int>(threads.value_or(0));
  if (flags.threads <= 0)
    flags.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  KILN_ASSIGN_OR_RETURN(auto budget, line.Double("budget-ms"));
  flags.options.budget_ms = budget.value_or(200.0);
  flags.options.cold_cache = !line.Has("warm");
  flags.options.evict_bytes = 2 * LastLevelCacheBytes();
  flags.device = line.String("device").value_or("cpu");
  flags.cpu = line.String("cpu").value_or("native");
  flags.json_path = line.String("json").value_or("");
  flags.compare_path = line.String("compare").value_or("");
  flags.unfused = !line.Has("no-unfused");
  flags.use_cache = !line.Has("no-cache");
  return flags;
}

// forward, loss (forward ops that read the labels), backward or optimizer, per kernel.
std::vector<std::string> KernelPhases(const ir::KernelProgram& program,
                                      const std::string& labels_input) {
  const ir::Graph& graph = program.graph;
  const codegen::KernelOrigins origins(graph);
  std::vector<bool> reads_labels(graph.size(), false);
  for (const ir::Node& node : graph.nodes()) {
    bool on_labels = ir::OpOf(node).Has(ir::kLeaf) && node.name == labels_input;
    for (ir::NodeId operand : node.operands) on_labels = on_labels || reads_labels[operand];
    reads_labels[node.id] = on_labels;
  }
  // A kernel is in the latest pass any of its ops belongs to: an optimizer kernel may start with
  // a gradient op fused into it.
  auto has = [&](const ir::Kernel& kernel, codegen::KernelOrigins::Pass pass) {
    return std::any_of(kernel.nodes.begin(), kernel.nodes.end(),
                       [&](ir::NodeId id) { return origins.PassOf(id) == pass; });
  };
  std::vector<std::string> phases;
  for (const ir::Kernel& kernel : program.kernels) {
    if (has(kernel, codegen::KernelOrigins::Pass::kUpdate)) {
      phases.push_back("optimizer");
    } else if (has(kernel, codegen::KernelOrigins::Pass::kBackward)) {
      phases.push_back("backward");
    } else {
      const bool loss = std::any_of(kernel.nodes.begin(), kernel.nodes.end(),
                                    [&](ir::NodeId id) { return reads_labels[id]; });
      phases.push_back(loss ? "loss" : "forward");
    }
  }
  return phases;
}

// The ops a kernel computes, generators it inlines left out.
std::vector<std::string> KernelOps(const ir::Graph& graph, const ir::Kernel& kernel) {
  std::vector<std::string> ops;
  for (ir::NodeId id : kernel.nodes) {
    if (!passes::IsInlinedGenerator(graph.node(id)))
      ops.push_back(std::string(graph.node(id).op.name()));
  }
  return ops;
}

// Per graph node, the fused kernel computing it (-1: none, or a generator inlined anywhere).
std::vector<int> KernelOfNode(const ir::KernelProgram& program) {
  std::vector<int> owner(program.graph.size(), -1);
  for (size_t k = 0; k < program.kernels.size(); ++k) {
    for (ir::NodeId id : program.kernels[k].nodes) {
      if (!passes::IsInlinedGenerator(program.graph.node(id))) owner[id] = static_cast<int>(k);
    }
  }
  return owner;
}

bool SameGraph(const ir::Graph& a, const ir::Graph& b) {
  if (a.size() != b.size()) return false;
  for (ir::NodeId id = 0; id < a.size(); ++id) {
    if (a.node(id).op.name() != b.node(id).op.name()) return false;
  }
  return true;
}

// Runs both steps once from the same initial state and inputs and compares what they produce.
absl::StatusOr<StepDifference> CompareSteps(codegen::LoadedModel& fused, codegen::LoadedModel& unfused,
                                        bool training, int64_t batch) {
  KILN_RETURN_IF_ERROR(fused.RunOnceOnHost(training, batch));
  KILN_RETURN_IF_ERROR(unfused.RunOnceOnHost(training, batch));
  StepDifference d;
  KILN_ASSIGN_OR_RETURN(runtime::Entry * a, fused.host().FindEntry(training, batch));
  KILN_ASSIGN_OR_RETURN(runtime::Entry * b, unfused.host().FindEntry(training, batch));
  for (const runtime::BufferSpec& buffer : a->spec().buffers) {
    if (buffer.role != runtime::BufferRole::kOutput || buffer.type != runtime::ElementType::kF32)
      continue;
    KILN_ASSIGN_OR_RETURN(runtime::BufferView x, a->Output(buffer.name));
    KILN_ASSIGN_OR_RETURN(runtime::BufferView y, b->Output(buffer.name));
    d.Add(buffer.name, x.f32(), y.f32(), x.num_elements());
  }
  for (const runtime::Tensor& tensor : fused.host().persistent()) {
    if (tensor.type() != runtime::ElementType::kF32) continue;
    runtime::Tensor* other = unfused.host().FindPersistent(tensor.name());
    if (other == nullptr)
      return absl::InternalError(absl::StrCat("unfused step lacks ", tensor.name()));
    d.Add(tensor.name(), tensor.f32(), other->f32(), tensor.num_elements());
  }
  return d;
}

std::string MethodLine(const BenchFlags& flags) {
  const codegen::BenchOptions& o = flags.options;
  return absl::StrFormat(
      "each kernel alone after 3 warm-up runs, timed runs until %.0f ms (%d..%d runs); %s",
      o.budget_ms, o.min_runs, o.max_runs,
      o.cold_cache
          ? absl::StrFormat("cold caches: %d MiB (2x LLC) written on every thread before each run",
                            o.evict_bytes >> 20)
          : std::string("warm caches: runs back to back"));
}

absl::Status Calibrate(const codegen::Backend& backend, const BenchFlags& flags) {
  const std::string target = TargetCpuDescription(flags.cpu);
  std::cout << "calibrating " << target << " with " << flags.threads << " threads...\n";
  KILN_ASSIGN_OR_RETURN(codegen::MachinePeak peak, backend.MeasurePeak(flags.threads, flags.cpu));
  KILN_RETURN_IF_ERROR(StoreMachinePeak(target, peak));
  std::cout << absl::StrFormat("peak %.1f GFLOP/s FP32, bandwidth %.1f GB/s (%s)\nstored in %s\n\n",
                               peak.gflops, peak.bandwidth_gbs, peak.method, MachineFilePath());
  return absl::OkStatus();
}

void AddRoofline(const BenchFlags& flags, BenchReport& report) {
  std::optional<codegen::MachinePeak> peak =
      LoadMachinePeak(TargetCpuDescription(flags.cpu), flags.threads);
  if (!peak) {
    const bool native = TargetCpuDescription(flags.cpu) == HostCpuDescription();
    report.roofline_source = absl::StrCat(
        "not calibrated for ", flags.threads, " threads on this CPU",
        native ? "" : absl::StrCat(" with ", flags.cpu, " code"), ": run `kiln bench --calibrate",
        flags.threads > 0 ? absl::StrCat(" --threads ", flags.threads) : "",
        native ? "" : absl::StrCat(" --cpu ", flags.cpu), "` for the roofline columns");
    return;
  }
  report.have_roofline = true;
  report.roofline = {peak->gflops, peak->bandwidth_gbs};
  report.roofline_source = absl::StrFormat("%.1f GFLOP/s, %.1f GB/s, measured by --calibrate (%s)",
                                           peak->gflops, peak->bandwidth_gbs, MachineFilePath());
}

std::vector<BenchKernel> KernelRows(const CompiledEntry& entry, const std::string& labels_input,
                                    const codegen::StepSamples& samples) {
  const std::vector<std::string> phases = KernelPhases(entry.program, labels_input);
  std::vector<BenchKernel> rows;
  for (size_t k = 0; k < samples.kernels.size(); ++k) {
    const codegen::KernelSamples& s = samples.kernels[k];
    BenchKernel row;
    row.name = s.name;
    row.phase = phases[k];
    row.ops = KernelOps(entry.program.graph, entry.program.kernels[k]);
    row.launch = s.launch;
    row.time_us = SpreadOf(s.microseconds);
    row.flops = s.flops;
    row.bytes = s.bytes;
    rows.push_back(std::move(row));
  }
  return rows;
}

// Charges every unfused kernel to the fused kernel that computes its first op.
void AddUnfused(const CompiledEntry& fused, const CompiledEntry& unfused,
                const codegen::StepSamples& samples, BenchReport& report) {
  report.have_unfused = true;
  report.unfused_step_us = SpreadOf(samples.step_microseconds);
  report.unfused_kernel_count = static_cast<int>(samples.kernels.size());
  for (const codegen::KernelSamples& s : samples.kernels) {
    report.unfused_kernel_sum_us += SpreadOf(s.microseconds).p50;
  }
  if (!SameGraph(fused.program.graph, unfused.program.graph)) return;
  const std::vector<int> owner = KernelOfNode(fused.program);
  for (size_t k = 0; k < unfused.program.kernels.size(); ++k) {
    const ir::Kernel& kernel = unfused.program.kernels[k];
    int target = -1;
    for (ir::NodeId id : kernel.nodes) {
      if (owner[id] >= 0) {
        target = owner[id];
        break;
      }
    }
    if (target < 0) continue;
    BenchKernel& row = report.kernels[target];
    row.unfused_kernels += 1;
    row.unfused_us += SpreadOf(samples.kernels[k].microseconds).p50;
    row.unfused_bytes += samples.kernels[k].bytes;
  }
}

absl::Status Bench(const std::vector<std::string>& args) {
  KILN_ASSIGN_OR_RETURN(BenchFlags flags, ParseBenchFlags(args));
  KILN_ASSIGN_OR_RETURN(const codegen::Backend* backend, FindBackend(flags.device));
  KILN_RETURN_IF_ERROR(backend->CheckAvailable());
  if (flags.calibrate) KILN_RETURN_IF_ERROR(Calibrate(*backend, flags));
  if (flags.file.empty()) return absl::OkStatus();

  KILN_ASSIGN_OR_RETURN(frontend::ModelAst ast, frontend::ParseModelFile(flags.file));
  KILN_ASSIGN_OR_RETURN(ir::TrainConfig train, frontend::LowerTrainConfig(ast));
  CompileOptions options;
  options.entries = {{flags.training, flags.batch_size.value_or(train.batch_size)}};
  options.fusion.windowed_gemm_operands = backend->ReadsWindowedGemmOperands();
  const int64_t batch = options.entries[0].batch_size;
  KILN_ASSIGN_OR_RETURN(CompiledModel compiled, CompileModel(ast, train, options));
  const codegen::LoadOptions load{
      .seed = train.seed, .threads = flags.threads, .cpu = flags.cpu, .use_cache = flags.use_cache};
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<codegen::LoadedModel> fused, backend->Load(compiled, load));

  CompiledModel unfused_compiled;
  std::unique_ptr<codegen::LoadedModel> unfused;
  StepDifference gate;
  if (flags.unfused) {
    options.fusion.one_op_per_kernel = true;
    KILN_ASSIGN_OR_RETURN(unfused_compiled, CompileModel(ast, train, options));
    KILN_ASSIGN_OR_RETURN(unfused, backend->Load(unfused_compiled, load));
    // Before any timing: both start from the seed's initial tensors.
    KILN_ASSIGN_OR_RETURN(gate, CompareSteps(*fused, *unfused, flags.training, batch));
    KILN_RETURN_IF_ERROR(CheckAgreement(gate, kGateRelativeLimit));
  }

  KILN_ASSIGN_OR_RETURN(codegen::StepSamples samples,
                        fused->Benchmark(flags.training, batch, flags.options));
  BenchReport report;
  report.model = compiled.name;
  report.mode = flags.training ? "train" : "eval";
  report.batch_size = batch;
  report.device = samples.device;
  report.threads = flags.threads;
  report.target = TargetCpuDescription(flags.cpu);
  report.version = VersionLine();
  report.cold_cache = flags.options.cold_cache;
  report.evict_bytes = flags.options.cold_cache ? flags.options.evict_bytes : 0;
  report.budget_ms = flags.options.budget_ms;
  report.method = MethodLine(flags);
  report.step_us = SpreadOf(samples.step_microseconds);
  report.kernels = KernelRows(compiled.entries[0], compiled.labels_input, samples);
  AddRoofline(flags, report);
  if (unfused) {
    KILN_ASSIGN_OR_RETURN(codegen::StepSamples unfused_samples,
                          unfused->Benchmark(flags.training, batch, flags.options));
    AddUnfused(compiled.entries[0], unfused_compiled.entries[0], unfused_samples, report);
    report.max_abs_diff = gate.abs;
    report.max_rel_diff = gate.rel;
  }
  PrintBenchReport(report, std::cout);
  if (!flags.json_path.empty()) {
    KILN_RETURN_IF_ERROR(WriteFileAtomically(flags.json_path, BenchReportToJson(report)));
  }
  if (flags.compare_path.empty()) return absl::OkStatus();
  KILN_ASSIGN_OR_RETURN(std::string base_text, ReadWholeFile(flags.compare_path));
  KILN_ASSIGN_OR_RETURN(BenchReport base, BenchReportFromJson(base_text));
  const std::vector<Regression> slower = FindRegressions(base, report);
  std::cout << "\ncompared with " << flags.compare_path << ": ";
  if (slower.empty()) {
    std::cout << "no kernel slower beyond the noise\n";
    return absl::OkStatus();
  }
  std::cout << slower.size() << " kernel(s) slower beyond the noise:\n";
  for (const Regression& r : slower) {
    std::cout << absl::StrFormat(
        "  SLOWER %-28s p50 %.2f us -> %.2f us (p10-p90 %.2f-%.2f -> %.2f-%.2f)\n", r.name,
        r.base.p50, r.now.p50, r.base.p10, r.base.p90, r.now.p10, r.now.p90);
  }
  return absl::FailedPreconditionError(
      absl::StrCat("bench: ", slower.size(), " kernel(s) slower than ", flags.compare_path));
}

}  // namespace

int BenchCommand(const std::vector<std::string>& args) { return ExitStatus(Bench(args)); }

}  // namespace kiln::tools
