// `kiln compile FILE --emit=...`: show or write what the compiler makes of a model.
#include <iostream>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "frontend/frontend.h"
#include "ir/model_summary.h"
#include "ir/printer.h"
#include "ir/serialize.h"
#include "passes/fuse_kernels.h"
#include "passes/plan_memory.h"
#include "passes/training_step.h"
#include "support/status.h"
#include "tools/backend_registry.h"
#include "support/command_line.h"
#include "tools/commands.h"
#include "tools/compile_pipeline.h"
#include "tools/graphviz.h"
#include "tools/step_graph_dot.h"

namespace kiln::tools {
namespace {

// The forward graph as written (composites unexpanded), parameters marked frozen as the train
// section says: what --emit=summary describes and --emit=dot|svg draws without --mode.
absl::StatusOr<ir::Graph> LowerForwardGraph(const frontend::ModelAst& ast,
                                            const ir::TrainConfig& train,
                                            const CompileOptions& options) {
  const int64_t batch_size = options.entries[0].batch_size;
  KILN_ASSIGN_OR_RETURN(ir::Graph model,
                        frontend::LowerModel(ast, {{frontend::BatchDimName(ast), batch_size}}));
  KILN_RETURN_IF_ERROR(passes::MarkFrozen(model, train.freeze));
  return model;
}

absl::Status Compile(const std::vector<std::string>& args) {
  KILN_ASSIGN_OR_RETURN(
      CommandLine line,
      CommandLine::Parse(args,
                         {"emit", "mode", "batch-size", "output", "disable-pass", "device", "cpu"},
                         {"dump-passes", "no-cache", "data-parallel"}));
  if (line.positional().size() != 1) {
    return absl::InvalidArgumentError("usage: kiln compile FILE --emit=KIND (see kiln --help)");
  }
  KILN_ASSIGN_OR_RETURN(frontend::ModelAst ast, frontend::ParseModelFile(line.positional()[0]));
  KILN_ASSIGN_OR_RETURN(ir::TrainConfig train, frontend::LowerTrainConfig(ast));
  train.data_parallel = line.Has("data-parallel");
  KILN_ASSIGN_OR_RETURN(auto batch, line.Int("batch-size"));
  std::string emit = line.String("emit").value_or("fusion");
  std::string mode = line.String("mode").value_or("train");
  if (mode != "train" && mode != "eval") {
    return absl::InvalidArgumentError("--mode must be train or eval, got '" + mode + "'");
  }
  CompileOptions options;
  options.entries = {{mode == "train", batch.value_or(train.batch_size)}};
  if (auto pass = line.String("disable-pass")) options.disabled_passes.insert(*pass);
  if (line.Has("dump-passes")) options.dump_passes = &std::cerr;
  // Kernels as the named backend fuses them (without --device, as the CPU does), whether or not
  // it can run here: the fusion dump needs no device. An unknown name fails below.
  if (auto device = line.String("device")) {
    if (const codegen::Backend* named = BackendNamed(*device)) {
      options.fusion.windowed_gemm_operands = named->ReadsWindowedGemmOperands();
    }
  }
  std::string output = line.String("output").value_or("");

  if (emit == "dot" || emit == "svg") {
    // With --mode, the compiled step, its fused kernels as clusters; without, the model.
    std::string dot;
    if (line.Has("mode")) {
      KILN_ASSIGN_OR_RETURN(ir::KernelProgram program,
                            CompileEntryProgram(ast, train, options.entries[0], options));
      dot = StepGraphToDot(program);
    } else {
      KILN_ASSIGN_OR_RETURN(ir::Graph model, LowerForwardGraph(ast, train, options));
      dot = ir::GraphToDot(model);
    }
    if (emit == "dot") return WriteCommandOutput(dot, output);
    KILN_ASSIGN_OR_RETURN(std::string svg, RenderDotToSvg(dot));
    return WriteCommandOutput(svg, output);
  }
  if (emit == "summary") {
    KILN_ASSIGN_OR_RETURN(ir::Graph model, LowerForwardGraph(ast, train, options));
    return WriteCommandOutput(ir::DescribeModel(model), output);
  }
  if (emit == "graph") {
    // The step graph after the graph passes, serialized (ir/proto/kiln/graph.proto) with its
    // train config; `kiln compile --emit=ir` prints the same graph as text.
    KILN_ASSIGN_OR_RETURN(ir::KernelProgram program,
                          CompileEntryProgram(ast, train, options.entries[0], options));
    if (output.empty()) output = ast.model.name + (mode == "train" ? ".train.kgraph" : ".eval.kgraph");
    KILN_RETURN_IF_ERROR(ir::SaveModel(program.graph, train, output));
    std::cerr << "kiln: wrote " << output << "\n";
    return absl::OkStatus();
  }
  if (emit == "ir" || emit == "fusion" || emit == "memory") {
    KILN_ASSIGN_OR_RETURN(ir::KernelProgram program,
                          CompileEntryProgram(ast, train, options.entries[0], options));
    std::string text = emit == "ir"       ? ir::PrintGraph(program.graph)
                       : emit == "fusion" ? passes::DescribeKernels(program.graph, program.kernels)
                                          : passes::DescribeMemoryPlan(program.memory);
    return WriteCommandOutput(text, output);
  }
  // Generated code: the backend --device names (or, without it, the one that writes `emit`).
  const codegen::Backend* backend = nullptr;
  if (auto device = line.String("device")) {
    KILN_ASSIGN_OR_RETURN(backend, FindBackend(*device));
  } else {
    backend = BackendEmitting(emit);
  }
  std::optional<codegen::EmitFormat> format;
  std::vector<std::string> kinds = {"summary", "dot", "svg", "ir", "graph", "fusion", "memory"};
  for (const codegen::Backend* candidate : Backends()) {
    for (const codegen::EmitFormat& f : candidate->emit_formats()) {
      kinds.push_back(f.name);
      if (candidate == backend && f.name == emit) format = f;
    }
  }
  if (!format) {
    if (backend != nullptr && BackendEmitting(emit) != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("--device ", std::string(backend->name()),
                                                     " does not emit '", emit, "'"));
    }
    return absl::InvalidArgumentError(absl::StrCat("--emit must be one of ",
                                                   absl::StrJoin(kinds, ", "), "; got '", emit,
                                                   "'"));
  }
  // Object files carry every entry point the runtime needs: training and evaluation.
  if (format->binary) options.entries.push_back({mode != "train", options.entries[0].batch_size});
  KILN_ASSIGN_OR_RETURN(CompiledModel compiled, CompileModel(ast, train, options));
  KILN_ASSIGN_OR_RETURN(
      std::string text,
      backend->Emit(compiled, emit, {.cpu = line.String("cpu").value_or("native"),
                                     .use_cache = !line.Has("no-cache")}));
  if (format->binary && output.empty()) output = compiled.name + "." + format->extension;
  KILN_RETURN_IF_ERROR(WriteCommandOutput(text, output));
  if (format->binary) std::cerr << "kiln: wrote " << output << " (" << text.size() << " bytes)\n";
  return absl::OkStatus();
}

}  // namespace

int CompileCommand(const std::vector<std::string>& args) {
  return ExitStatus(Compile(args));
}

}  // namespace kiln::tools
