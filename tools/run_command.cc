// `kiln run MODEL (.kiln or .onnx) [--weights F] --input NAME=FILE ... [--output DIR]` and
// `kiln run MODEL.onnx --test-dir test_data_set_0`: the model's forward graph in evaluation mode
// on given tensors (tools/forward_runner.h). Inputs are ONNX TensorProto files (.pb) or kiln
// tensor files (.kt); every output is written as NAME.pb and NAME.kt, or, with --test-dir,
// compared with the directory's output_*.pb at ONNX's tolerances (exit 0 only on a match).
#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "interop/onnx/onnx_tensor.h"
#include "ir/types.h"
#include "runtime/tensor_file.h"
#include "support/command_line.h"
#include "support/file_io.h"
#include "support/status.h"
#include "tools/commands.h"
#include "tools/forward_runner.h"

namespace kiln::tools {
namespace {

constexpr char kRunUsage[] =
    "usage: kiln run MODEL (.kiln or .onnx) [--weights F] --input NAME=FILE ... [--output DIR]\n"
    "       kiln run MODEL.onnx --test-dir DIR (ONNX test-runner layout: input_*.pb, output_*.pb)";

// A tensor file: kiln's (magic KILNTNSR) or an ONNX TensorProto.
absl::StatusOr<NamedTensor> ReadTensor(const std::string& path, const std::string& name) {
  KILN_ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(path));
  if (absl::StartsWith(bytes, runtime::kTensorFileMagic)) {
    KILN_ASSIGN_OR_RETURN(runtime::HostTensor host, runtime::DecodeTensorFile(bytes, path));
    NamedTensor t{.name = name, .type = host.type, .shape = host.shape};
    if (host.type == runtime::ElementType::kI64) {
      t.bytes.assign(reinterpret_cast<const char*>(host.i64.data()), host.i64.size() * 8);
    } else {
      t.bytes.assign(reinterpret_cast<const char*>(host.f32.data()), host.f32.size() * 4);
    }
    return t;
  }
  onnx::TensorProto proto;
  if (!proto.ParseFromString(bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": neither a kiln tensor file nor an ONNX TensorProto"));
  }
  absl::StatusOr<NamedTensor> tensor = interop::TensorFromOnnx(proto);
  if (!tensor.ok()) {
    return absl::Status(tensor.status().code(), absl::StrCat(path, ": ", tensor.status().message()));
  }
  tensor->name = name.empty() ? proto.name() : name;
  return tensor;
}

runtime::HostTensor ToHost(const NamedTensor& t) {
  runtime::HostTensor host{.type = t.type, .shape = t.shape};
  if (t.type == runtime::ElementType::kI64) {
    host.i64.resize(t.bytes.size() / 8);
    std::memcpy(host.i64.data(), t.bytes.data(), t.bytes.size());
  } else {
    host.f32.resize(t.bytes.size() / 4);
    std::memcpy(host.f32.data(), t.bytes.data(), t.bytes.size());
  }
  return host;
}

// "x" -> "x"; "/layer/out:0" -> "_layer_out_0": an output's file name.
std::string FileStem(const std::string& name) {
  std::string stem;
  for (char c : name) stem += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ? c : '_';
  return stem.empty() || stem[0] == '.' ? "_" + stem : stem;
}

// --input NAME=FILE may repeat: taken out of `args` before the other flags are parsed.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> TakeInputs(
    std::vector<std::string>& args) {
  std::vector<std::pair<std::string, std::string>> inputs;
  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string value;
    if (args[i] == "--input") {
      if (i + 1 == args.size()) return absl::InvalidArgumentError("--input needs NAME=FILE");
      value = args[++i];
    } else if (absl::StartsWith(args[i], "--input=")) {
      value = args[i].substr(8);
    } else {
      rest.push_back(args[i]);
      continue;
    }
    const size_t eq = value.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == value.size()) {
      return absl::InvalidArgumentError(absl::StrCat("--input ", value, ": expected NAME=FILE"));
    }
    inputs.emplace_back(value.substr(0, eq), value.substr(eq + 1));
  }
  args = std::move(rest);
  return inputs;
}

absl::StatusOr<bool> RunTestDir(const ForwardModel& model, const std::string& dir) {
  std::vector<NamedTensor> inputs;
  for (size_t i = 0; i < model.input_names().size(); ++i) {
    const std::string file = absl::StrCat(dir, "/input_", i, ".pb");
    KILN_ASSIGN_OR_RETURN(NamedTensor t, ReadTensor(file, model.input_names()[i]));
    inputs.push_back(std::move(t));
  }
  KILN_ASSIGN_OR_RETURN(std::vector<NamedTensor> outputs, model.Run(inputs));
  bool all = true;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string file = absl::StrCat(dir, "/output_", i, ".pb");
    KILN_ASSIGN_OR_RETURN(NamedTensor expected, ReadTensor(file, outputs[i].name));
    const std::string mismatch = CompareTensors(outputs[i], expected);
    std::cout << absl::StrFormat("%s %s: %s\n", mismatch.empty() ? "match" : "MISMATCH",
                                 outputs[i].name, mismatch.empty() ? "within rtol 1e-3, atol 1e-7"
                                                                   : mismatch);
    all &= mismatch.empty();
  }
  return all;
}

absl::Status WriteOutputs(const std::vector<NamedTensor>& outputs, const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return absl::InvalidArgumentError(absl::StrCat(dir, ": ", error.message()));
  for (const NamedTensor& t : outputs) {
    const std::string stem = absl::StrCat(dir, "/", FileStem(t.name));
    KILN_RETURN_IF_ERROR(WriteFileAtomically(stem + ".pb", ToOnnxTensor(t).SerializeAsString()));
    KILN_RETURN_IF_ERROR(runtime::WriteTensorFile(stem + ".kt", ToHost(t)));
    std::cout << "kiln: wrote " << stem << ".pb and " << stem << ".kt\n";
  }
  return absl::OkStatus();
}

// A line per output: name, shape and the first values.
void PrintOutputs(const std::vector<NamedTensor>& outputs) {
  for (const NamedTensor& t : outputs) {
    const std::vector<double> values = interop::TensorValues(t);
    std::string line = absl::StrCat(t.name, " ", ir::ShapeToString(t.shape), ":");
    for (size_t i = 0; i < std::min<size_t>(values.size(), 8); ++i) {
      absl::StrAppend(&line, absl::StrFormat(" %.6g", values[i]));
    }
    if (values.size() > 8) absl::StrAppend(&line, " ...");
    std::cout << line << "\n";
  }
}

absl::StatusOr<int> Run(std::vector<std::string> args) {
  KILN_ASSIGN_OR_RETURN(auto input_files, TakeInputs(args));
  KILN_ASSIGN_OR_RETURN(CommandLine line,
                        CommandLine::Parse(args, {"weights", "output", "test-dir"}));
  if (line.positional().size() != 1) return absl::InvalidArgumentError(kRunUsage);
  KILN_ASSIGN_OR_RETURN(ForwardModel model,
                        ForwardModel::Load(line.positional()[0],
                                           line.String("weights").value_or("")));
  if (auto dir = line.String("test-dir")) {
    if (!input_files.empty()) return absl::InvalidArgumentError("--test-dir takes no --input");
    KILN_ASSIGN_OR_RETURN(bool match, RunTestDir(model, *dir));
    return match ? 0 : 1;
  }
  std::vector<NamedTensor> inputs;
  for (const auto& [name, file] : input_files) {
    KILN_ASSIGN_OR_RETURN(NamedTensor t, ReadTensor(file, name));
    inputs.push_back(std::move(t));
  }
  KILN_ASSIGN_OR_RETURN(std::vector<NamedTensor> outputs, model.Run(inputs));
  if (auto dir = line.String("output")) {
    KILN_RETURN_IF_ERROR(WriteOutputs(outputs, *dir));
  } else {
    PrintOutputs(outputs);
  }
  return 0;
}

}  // namespace

int RunCommand(const std::vector<std::string>& args) {
  absl::StatusOr<int> status = Run(args);
  if (!status.ok()) return ExitStatus(status.status());
  return *status;
}

}  // namespace kiln::tools
