// `kiln export FILE --weights CKPT -o MODEL.onnx [--opset 17] [--batch-size N]`: the model's
// evaluation graph with trained weights as an ONNX model (interop/onnx/onnx_exporter.h).
#include <iostream>

#include "absl/strings/str_cat.h"
#include "frontend/frontend.h"
#include "interop/onnx/onnx_exporter.h"
#include "runtime/checkpoint.h"
#include "support/command_line.h"
#include "support/file_io.h"
#include "support/status.h"
#include "tools/commands.h"

namespace kiln::tools {
namespace {

constexpr char kExportUsage[] =
    "usage: kiln export FILE --weights CKPT -o MODEL.onnx [--opset 17] [--batch-size N]";

absl::Status Export(const std::vector<std::string>& args) {
  KILN_ASSIGN_OR_RETURN(CommandLine line,
                        CommandLine::Parse(args, {"weights", "output", "opset", "batch-size"}));
  if (line.positional().size() != 1 || !line.Has("weights") || !line.Has("output")) {
    return absl::InvalidArgumentError(kExportUsage);
  }
  KILN_ASSIGN_OR_RETURN(auto opset, line.Int("opset"));
  KILN_ASSIGN_OR_RETURN(auto batch, line.Int("batch-size"));
  if (batch.value_or(1) < 1) return absl::InvalidArgumentError("--batch-size must be at least 1");
  KILN_ASSIGN_OR_RETURN(frontend::ModelAst ast, frontend::ParseModelFile(line.positional()[0]));
  KILN_ASSIGN_OR_RETURN(runtime::Checkpoint checkpoint,
                        runtime::ReadCheckpoint(*line.String("weights")));
  interop::ExportOptions options;
  options.opset = opset.value_or(17);
  options.fixed_batch = batch.value_or(1);
  absl::StatusOr<interop::ExportedModel> exported =
      interop::ExportOnnx(ast, checkpoint.tensors, options);
  if (!exported.ok()) {
    return absl::Status(exported.status().code(),
                        absl::StrCat(line.positional()[0], ": ", exported.status().message()));
  }
  const std::string output = *line.String("output");
  KILN_RETURN_IF_ERROR(WriteFileAtomically(output, exported->model.SerializeAsString()));
  std::cout << "kiln: wrote " << output << " (opset " << options.opset << ", "
            << exported->model.graph().node_size() << " nodes, "
            << exported->model.graph().initializer_size() << " initializers, batch "
            << (exported->symbolic_batch ? std::string("N") : absl::StrCat(options.fixed_batch))
            << ")\n";
  return absl::OkStatus();
}

}  // namespace

int ExportCommand(const std::vector<std::string>& args) { return ExitStatus(Export(args)); }

}  // namespace kiln::tools
