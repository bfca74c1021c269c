// `kiln compile FILE --emit=...`: show or write what the compiler makes of a model.
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "codegen/cpu/llvm_target.h"
#include "frontend/frontend.h"
#include "ir/model_summary.h"
#include "ir/printer.h"
#include "ir/serialize.h"
#include "passes/fuse_kernels.h"
#include "passes/plan_memory.h"
#include "passes/training_step.h"
#include "support/status.h"
#include "tools/command_line.h"
#include "tools/commands.h"
#include "tools/compile_pipeline.h"
#include "tools/device.h"

namespace kiln::tools {
namespace {

absl::Status WriteOutput(const std::string& contents, const std::string& path) {
  if (path.empty() || path == "-") {
    std::cout << contents;
    return absl::OkStatus();
  }
  std::ofstream out(path, std::ios::binary);
  out << contents;
  if (!out.good()) return absl::UnavailableError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::Status Compile(const std::vector<std::string>& args) {
  KILN_ASSIGN_OR_RETURN(CommandLine line,
                        CommandLine::Parse(args, {"emit", "mode", "batch-size", "output",
                                                  "disable-pass", "device"},
                                           {"dump-passes"}));
  if (line.positional().size() != 1) {
    return absl::InvalidArgumentError("usage: kiln compile FILE --emit=KIND (see kiln --help)");
  }
  KILN_ASSIGN_OR_RETURN(frontend::ModelAst ast, frontend::ParseModelFile(line.positional()[0]));
  KILN_ASSIGN_OR_RETURN(ir::TrainConfig train, frontend::LowerTrainConfig(ast));
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
  std::string output = line.String("output").value_or("");

  if (emit == "summary" || emit == "dot") {
    // The forward graph as written (composites unexpanded), parameters marked frozen as the
    // train section says.
    const int64_t batch_size = options.entries[0].batch_size;
    KILN_ASSIGN_OR_RETURN(ir::Graph model,
                          frontend::LowerModel(ast, {{frontend::BatchDimName(ast), batch_size}}));
    KILN_RETURN_IF_ERROR(passes::MarkFrozen(model, train.freeze));
    return WriteOutput(emit == "summary" ? ir::DescribeModel(model) : ir::GraphToDot(model),
                       output);
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
  if (emit == "cuda") {
    KILN_ASSIGN_OR_RETURN(ir::KernelProgram program,
                          CompileEntryProgram(ast, train, options.entries[0], options));
    KILN_ASSIGN_OR_RETURN(std::string source,
                          CudaSource(program, EntrySymbol(ast.model.name, options.entries[0])));
    return WriteOutput(source, output);
  }
  std::string device = line.String("device").value_or("cpu");
  if (device != "cpu") {
    return absl::InvalidArgumentError("--device " + device + " supports only --emit=cuda here");
  }
  if (emit == "ir" || emit == "fusion" || emit == "memory") {
    KILN_ASSIGN_OR_RETURN(ir::KernelProgram program,
                          CompileEntryProgram(ast, train, options.entries[0], options));
    std::string text = emit == "ir"       ? ir::PrintGraph(program.graph)
                       : emit == "fusion" ? passes::DescribeKernels(program.graph, program.kernels)
                                          : passes::DescribeMemoryPlan(program.memory);
    return WriteOutput(text, output);
  }
  if (emit != "llvm" && emit != "asm" && emit != "obj") {
    return absl::InvalidArgumentError(
        "--emit must be one of summary, dot, ir, graph, fusion, memory, llvm, asm, obj, cuda; got '" + emit +
        "'");
  }
  // Object files carry every entry point the runtime needs: training and evaluation.
  if (emit == "obj") options.entries.push_back({mode != "train", options.entries[0].batch_size});
  KILN_ASSIGN_OR_RETURN(CompiledModel compiled, CompileModel(ast, train, options));
  KILN_ASSIGN_OR_RETURN(auto target, cpu::CreateHostTargetMachine());
  cpu::OutputKind kind = emit == "llvm"  ? cpu::OutputKind::kLlvmIr
                         : emit == "asm" ? cpu::OutputKind::kAssembly
                                         : cpu::OutputKind::kObject;
  KILN_ASSIGN_OR_RETURN(std::string text, cpu::EmitModule(*compiled.module, *target, kind));
  if (emit == "obj" && output.empty()) output = compiled.name + ".o";
  KILN_RETURN_IF_ERROR(WriteOutput(text, output));
  if (emit == "obj") std::cerr << "kiln: wrote " << output << " (" << text.size() << " bytes)\n";
  return absl::OkStatus();
}

}  // namespace

int CompileCommand(const std::vector<std::string>& args) {
  absl::Status status = Compile(args);
  if (status.ok()) return 0;
  std::cerr << "kiln: " << status.message() << "\n";
  return 1;
}

}  // namespace kiln::tools
