#include "tools/forward_runner.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "frontend/frontend.h"
#include "interop/onnx/onnx_importer.h"
#include "interop/onnx/onnx_tensor.h"
#include "ir/op_registry.h"
#include "passes/training_step.h"
#include "support/file_io.h"
#include "support/status.h"
#include "tools/graph_runner.h"

namespace kiln::tools {
namespace {

constexpr char kOutputPrefix[] = "run.";

// A leaf bound from outside each run: bound, and not persistent like parameters and state.
bool IsInput(const ir::Node& node) {
  const ir::OpDef& def = ir::OpOf(node);
  return def.IsBoundLeaf() && !def.Has(ir::kPersistent);
}

NamedTensor FromValues(const std::string& name, const ir::TensorType& type,
                       const std::vector<double>& values) {
  NamedTensor t{.name = name, .shape = type.shape};
  if (type.dtype == ir::DType::kI64) {
    t.type = runtime::ElementType::kI64;
    t.bytes.resize(values.size() * 8);
    for (size_t i = 0; i < values.size(); ++i) {
      const int64_t v = static_cast<int64_t>(values[i]);
      std::memcpy(t.bytes.data() + i * 8, &v, 8);
    }
  } else {
    t.bytes.resize(values.size() * 4);
    for (size_t i = 0; i < values.size(); ++i) {
      const float v = static_cast<float>(values[i]);
      std::memcpy(t.bytes.data() + i * 4, &v, 4);
    }
  }
  return t;
}

const NamedTensor* FindTensor(const std::vector<NamedTensor>& tensors, const std::string& name) {
  for (const NamedTensor& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

// The batch size the inputs imply: the first input's first dim.
int64_t BatchOf(const std::vector<NamedTensor>& inputs) {
  if (inputs.empty() || inputs[0].shape.empty()) return 1;
  return std::max<int64_t>(inputs[0].shape[0], 1);
}

struct Binding {
  std::string tensor;  // The given tensor's name.
  std::string leaf;    // The kiln input it fills.
};

// Compiles the evaluation step of `graph` (its outputs named kOutputPrefix + name), fills the
// weights and inputs, runs it and reads `outputs` back under their own names.
absl::StatusOr<std::vector<NamedTensor>> CompileAndRun(
    ir::Graph graph, const std::vector<runtime::CheckpointTensor>& weights,
    const std::vector<NamedTensor>& inputs, const std::vector<Binding>& bindings,
    const std::vector<std::string>& outputs) {
  std::set<std::string> bound;
  for (const Binding& b : bindings) {
    const NamedTensor* given = FindTensor(inputs, b.tensor);
    const ir::NodeId leaf = graph.FindByName(b.leaf);
    if (given == nullptr || leaf == ir::kNoNode) continue;
    const ir::TensorType& want = graph.node(leaf).type;
    const bool i64 = given->type == runtime::ElementType::kI64;
    if (want.shape != given->shape || (want.dtype == ir::DType::kI64) != i64) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "input '%s' is %s%s, the model expects %s", b.tensor, i64 ? "i64" : "f32",
          ir::ShapeToString(given->shape), want.ToString()));
    }
    bound.insert(b.leaf);
  }
  KILN_ASSIGN_OR_RETURN(ir::Graph eval, passes::BuildEvalStep(graph));
  std::map<std::string, ir::TensorType> output_types;
  for (const std::string& name : outputs) {
    output_types[name] = eval.node(eval.Output(kOutputPrefix + name)).type;
  }
  std::vector<std::string> unbound;  // Inputs only the loss reads (labels): zeros.
  for (const ir::Node& node : eval.nodes()) {
    if (IsInput(node) && !bound.count(node.name)) unbound.push_back(node.name);
  }
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<GraphRunner> runner, GraphRunner::Compile(std::move(eval)));
  for (const runtime::CheckpointTensor& w : weights) {
    KILN_RETURN_IF_ERROR(runner->Set(w.name, interop::TensorValues(w)));
  }
  for (const Binding& b : bindings) {
    if (!bound.count(b.leaf)) continue;
    KILN_RETURN_IF_ERROR(runner->Set(b.leaf, interop::TensorValues(*FindTensor(inputs, b.tensor))));
  }
  for (const std::string& name : unbound) {
    absl::StatusOr<std::vector<double>> current = runner->Read(name);
    if (current.ok()) (void)runner->Set(name, std::vector<double>(current->size(), 0.0));
  }
  KILN_RETURN_IF_ERROR(runner->Run());
  std::vector<NamedTensor> results;
  for (const std::string& name : outputs) {
    KILN_ASSIGN_OR_RETURN(std::vector<double> values, runner->Read(kOutputPrefix + name));
    results.push_back(FromValues(name, output_types[name], values));
  }
  return results;
}

absl::Status CheckInputsGiven(const std::vector<std::string>& names,
                              const std::vector<NamedTensor>& inputs) {
  for (const std::string& name : names) {
    if (FindTensor(inputs, name) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("no value for the model's input '", name,
                                                     "' (--input ", name, "=FILE)"));
    }
  }
  for (const NamedTensor& t : inputs) {
    if (std::find(names.begin(), names.end(), t.name) == names.end()) {
      return absl::InvalidArgumentError(absl::StrCat("the model has no input '", t.name, "'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ForwardModel> ForwardModel::Load(const std::string& path,
                                                const std::string& weights_path) {
  ForwardModel model;
  model.path_ = path;
  if (!weights_path.empty()) {
    KILN_ASSIGN_OR_RETURN(runtime::Checkpoint checkpoint, runtime::ReadCheckpoint(weights_path));
    model.weights_ = std::move(checkpoint.tensors);
  }
  KILN_ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(path));
  if (absl::EndsWith(path, ".onnx")) {
    model.onnx_ = true;
    if (!model.onnx_model_.ParseFromString(bytes)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": not an ONNX model (bad protobuf)"));
    }
    std::set<std::string> initialized;
    for (const onnx::TensorProto& t : model.onnx_model_.graph().initializer()) {
      initialized.insert(t.name());
    }
    for (const onnx::ValueInfoProto& input : model.onnx_model_.graph().input()) {
      if (!initialized.count(input.name())) model.input_names_.push_back(input.name());
    }
    for (const onnx::ValueInfoProto& output : model.onnx_model_.graph().output()) {
      model.output_names_.push_back(output.name());
    }
    return model;
  }
  if (weights_path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": a .kiln model runs with trained weights (--weights CKPT)"));
  }
  model.kiln_source_ = std::move(bytes);
  KILN_ASSIGN_OR_RETURN(frontend::ModelAst ast, frontend::ParseModel(model.kiln_source_, path));
  KILN_ASSIGN_OR_RETURN(ir::Graph graph,
                        frontend::LowerModel(ast, {{frontend::BatchDimName(ast), 1}}));
  const ir::NodeId loss = graph.Output("loss");
  if (loss == ir::kNoNode || graph.node(loss).operands.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": the model binds no loss"));
  }
  const ir::NodeId prediction = graph.node(loss).operands[0];
  std::vector<bool> needed(graph.size(), false);
  needed[prediction] = true;
  for (ir::NodeId id = prediction; id >= 0; --id) {
    if (!needed[id]) continue;
    for (ir::NodeId operand : graph.node(id).operands) needed[operand] = true;
  }
  for (const ir::Node& node : graph.nodes()) {
    if (needed[node.id] && IsInput(node)) model.input_names_.push_back(node.name);
  }
  const std::string& name = graph.node(prediction).name;
  model.output_names_.push_back(name.empty() ? "output" : name);
  return model;
}

absl::StatusOr<std::vector<NamedTensor>> ForwardModel::Run(
    const std::vector<NamedTensor>& inputs) const {
  absl::Status given = CheckInputsGiven(input_names_, inputs);
  absl::StatusOr<std::vector<NamedTensor>> outputs =
      !given.ok() ? given : onnx_ ? RunOnnx(inputs) : RunKiln(inputs);
  if (!outputs.ok()) {
    return absl::Status(outputs.status().code(),
                        absl::StrCat(path_, ": ", outputs.status().message()));
  }
  return outputs;
}

absl::StatusOr<std::vector<NamedTensor>> ForwardModel::RunKiln(
    const std::vector<NamedTensor>& inputs) const {
  KILN_ASSIGN_OR_RETURN(frontend::ModelAst ast, frontend::ParseModel(kiln_source_, path_));
  KILN_ASSIGN_OR_RETURN(ir::Graph graph, frontend::LowerModel(ast, {{frontend::BatchDimName(ast),
                                                                      BatchOf(inputs)}}));
  graph.outputs.emplace_back(kOutputPrefix + output_names_[0],
                             graph.node(graph.Output("loss")).operands[0]);
  std::vector<runtime::CheckpointTensor> weights;
  for (const ir::Node& node : graph.nodes()) {
    if (!ir::OpOf(node).Has(ir::kPersistent)) continue;
    const NamedTensor* w = FindTensor(weights_, node.name);
    if (w == nullptr) {
      return absl::NotFoundError(absl::StrCat("the weights have no tensor '", node.name, "'"));
    }
    if (w->shape != node.type.shape) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "the weights' tensor '%s' has shape %s, the model expects %s", node.name,
          ir::ShapeToString(w->shape), node.type.ToString()));
    }
    weights.push_back(*w);
  }
  std::vector<Binding> bindings;
  for (const std::string& name : input_names_) bindings.push_back({name, name});
  return CompileAndRun(std::move(graph), weights, inputs, bindings, output_names_);
}

absl::StatusOr<std::vector<NamedTensor>> ForwardModel::RunOnnx(
    const std::vector<NamedTensor>& inputs) const {
  // kiln's layers take their weights as constants, so every input after the first becomes an
  // initializer holding its given value (the same numbers, computed the same way).
  onnx::ModelProto model = onnx_model_;
  onnx::GraphProto& graph = *model.mutable_graph();
  for (onnx::TensorProto& t : *graph.mutable_initializer()) {
    if (const NamedTensor* w = FindTensor(weights_, t.name())) t = ToOnnxTensor(*w);
  }
  std::vector<onnx::ValueInfoProto> kept;
  for (const onnx::ValueInfoProto& input : onnx_model_.graph().input()) {
    const bool first = !input_names_.empty() && input.name() == input_names_[0];
    const NamedTensor* given = FindTensor(inputs, input.name());
    if (first || given == nullptr) {
      kept.push_back(input);
      continue;
    }
    *graph.add_initializer() = ToOnnxTensor(*given);
  }
  graph.clear_input();
  for (const onnx::ValueInfoProto& input : kept) *graph.add_input() = input;

  KILN_ASSIGN_OR_RETURN(interop::ImportedModel imported, interop::ImportOnnxModel(model, {}));
  KILN_ASSIGN_OR_RETURN(frontend::ModelAst ast,
                        frontend::ParseModel(imported.source, path_ + " (imported)"));
  KILN_ASSIGN_OR_RETURN(ir::Graph lowered, frontend::LowerModel(ast, {{"B", BatchOf(inputs)}}));
  for (const auto& [onnx_name, node_name] : imported.outputs) {
    const ir::NodeId id = lowered.FindByName(node_name);
    if (id == ir::kNoNode) return absl::InternalError(absl::StrCat("no value named ", node_name));
    lowered.outputs.emplace_back(kOutputPrefix + onnx_name, id);
  }
  std::vector<Binding> bindings;
  for (const auto& [onnx_name, kiln_name] : imported.inputs) bindings.push_back({onnx_name, kiln_name});
  return CompileAndRun(std::move(lowered), imported.weights, inputs, bindings, output_names_);
}

std::string CompareTensors(const NamedTensor& actual, const NamedTensor& expected, double rtol,
                           double atol) {
  if (actual.shape != expected.shape) {
    // A scalar and a one-element tensor hold the same value.
    if (interop::ElementCount(actual.shape) != interop::ElementCount(expected.shape) ||
        interop::ElementCount(actual.shape) != 1) {
      return absl::StrCat("shape ", ir::ShapeToString(actual.shape), ", expected ",
                          ir::ShapeToString(expected.shape));
    }
  }
  const std::vector<double> a = interop::TensorValues(actual), e = interop::TensorValues(expected);
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) && std::isnan(e[i])) continue;
    if (a[i] == e[i] || std::fabs(a[i] - e[i]) <= atol + rtol * std::fabs(e[i])) continue;
    return absl::StrFormat("element %d is %.7g, expected %.7g", i, a[i], e[i]);
  }
  return "";
}

onnx::TensorProto ToOnnxTensor(const NamedTensor& tensor) {
  onnx::TensorProto proto;
  proto.set_name(tensor.name);
  proto.set_data_type(tensor.type == runtime::ElementType::kI64 ? onnx::TensorProto::INT64
                                                                : onnx::TensorProto::FLOAT);
  for (int64_t d : tensor.shape) proto.add_dims(d);
  proto.set_raw_data(tensor.bytes);
  return proto;
}

}  // namespace kiln::tools
