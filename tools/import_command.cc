// `kiln import MODEL.onnx -o MODEL.kiln [--weights FILE]`: converts an ONNX model into a .kiln
// model file and a weights file (a kiln checkpoint) that its train section loads.
#include <cctype>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "interop/onnx/onnx_importer.h"
#include "support/command_line.h"
#include "support/file_io.h"
#include "support/status.h"
#include "tools/commands.h"

namespace kiln::tools {
namespace {

constexpr char kImportUsage[] =
    "usage: kiln import MODEL.onnx -o MODEL.kiln [--weights FILE] [--name NAME]";

// "dir/resnet.onnx" -> "dir/resnet" (the default stem of the outputs).
std::string Stem(const std::string& path) {
  const size_t dot = path.find_last_of('.');
  const size_t slash = path.find_last_of('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return path;
  return path.substr(0, dot);
}

// A model name from the .kiln file's name: letters, digits and '_', not a keyword.
std::string ModelName(const std::string& kiln_path) {
  const std::string stem = Stem(kiln_path);
  std::string name;
  for (char c : stem.substr(stem.find_last_of('/') + 1)) {
    name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  }
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) name = "m_" + name;
  if (name == "model" || name == "block" || name == "train") name += "_onnx";
  return name;
}

absl::Status Import(const std::vector<std::string>& args) {
  KILN_ASSIGN_OR_RETURN(CommandLine line, CommandLine::Parse(args, {"output", "weights", "name"}));
  if (line.positional().size() != 1) return absl::InvalidArgumentError(kImportUsage);
  const std::string& path = line.positional()[0];
  const std::string output = line.String("output").value_or(Stem(path) + ".kiln");
  const std::string weights = line.String("weights").value_or(Stem(output) + ".kckpt");
  interop::ImportOptions options;
  options.model_name = line.String("name").value_or(ModelName(output));
  options.source_name = path.substr(path.find_last_of('/') + 1);
  // As given: kiln train resolves init_weights against its working directory, like every path.
  options.weights_path = weights;

  KILN_ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(path));
  absl::StatusOr<interop::ImportedModel> model = interop::ImportOnnx(bytes, options);
  if (!model.ok()) {
    return absl::Status(model.status().code(), absl::StrCat(path, ": ", model.status().message()));
  }
  KILN_RETURN_IF_ERROR(
      WriteFileAtomically(weights, interop::EncodeWeights(options.model_name, model->weights)));
  KILN_RETURN_IF_ERROR(WriteFileAtomically(output, model->source));
  std::cout << "kiln: wrote " << output << " and " << weights << " (" << model->weights.size()
            << " tensors)\n";
  return absl::OkStatus();
}

}  // namespace

int ImportCommand(const std::vector<std::string>& args) { return ExitStatus(Import(args)); }

}  // namespace kiln::tools
