#include "interop/onnx/onnx_importer.h"

#include <cctype>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "frontend/frontend.h"
#include "interop/onnx/node_context.h"
#include "interop/onnx/onnx_tensor.h"
#include "interop/onnx/op_emitters.h"
#include "interop/onnx/topological_order.h"
#include "support/status.h"

namespace kiln::interop {
namespace {

constexpr int64_t kMinOpset = 9;
constexpr int64_t kMaxOpset = 21;
constexpr int64_t kMinIrVersion = 3;

// Words a kiln binding may not take: statement keywords, the batch dim, the loss, literals.
const std::set<std::string>& ReservedNames() {
  static const auto* names = new std::set<std::string>{
      "model", "block", "train", "input", "param", "return", "B", "loss", "true", "false"};
  return *names;
}

// A kiln name for an ONNX value name: other characters become '_', a dotted part that does not
// start like a name is joined to the one before ("layer1.0.weight" -> "layer1_0.weight").
std::string KilnName(const std::string& onnx_name, bool keep_dots) {
  std::string cleaned;
  for (char c : onnx_name) {
    const bool ok =
        std::isalnum(static_cast<unsigned char>(c)) || c == '_' || (keep_dots && c == '.');
    cleaned += ok ? c : '_';
  }
  std::string name;
  for (absl::string_view part : absl::StrSplit(cleaned, '.', absl::SkipEmpty())) {
    const bool starts_name = std::isalpha(static_cast<unsigned char>(part[0])) || part[0] == '_';
    if (!name.empty()) name += starts_name ? "." : "_";
    absl::StrAppend(&name, part);
  }
  size_t first = name.find_first_not_of('_');
  name = first == std::string::npos ? "" : name.substr(first);
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0])) ||
      ReservedNames().count(name)) {
    name = "v_" + name;
  }
  return name;
}

// "layer1.0.conv1.weight": dotted parts of letters, digits and '_', the first starting like a
// name. Such a name is a layer's name= as it is (in quotes when a part starts with a digit).
bool IsModulePath(const std::string& onnx_name) {
  if (onnx_name.empty() || std::isdigit(static_cast<unsigned char>(onnx_name[0]))) return false;
  for (absl::string_view part : absl::StrSplit(onnx_name, '.')) {
    if (part.empty()) return false;
    for (char c : part) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
    }
  }
  return !ReservedNames().count(onnx_name.substr(0, onnx_name.find('.')));
}

const char* DTypeName(int elem_type) {
  switch (elem_type) {
    case onnx::TensorProto::FLOAT:
      return "f32";
    case onnx::TensorProto::INT64:
      return "i64";
    default:
      return nullptr;
  }
}

std::string TypeString(const char* dtype, const std::vector<int64_t>& shape) {
  return absl::StrCat(dtype, FormatList(shape));
}

struct ValueInfo {
  std::string kiln_name;  // The name bound in the model (inputs, params, statements).
  std::string node_name;  // The graph node holding it (differs for aliases).
  std::optional<int> rank;
  std::optional<runtime::ElementType> type;  // Where declared (graph inputs, constants).
};

class Importer {
 public:
  Importer(const onnx::ModelProto& model, const ImportOptions& options)
      : model_(model), options_(options) {}

  absl::StatusOr<ImportedModel> Run();

  // For NodeContextImpl.
  absl::StatusOr<std::string> Operand(const std::string& onnx_name, const NodeContext& node);
  const runtime::CheckpointTensor* Constant(const std::string& onnx_name) const {
    auto it = constants_.find(onnx_name);
    return it == constants_.end() ? nullptr : &it->second;
  }
  std::optional<runtime::ElementType> ElementTypeOf(const std::string& onnx_name) const {
    if (const runtime::CheckpointTensor* c = Constant(onnx_name)) return c->type;
    auto it = values_.find(onnx_name);
    return it != values_.end() ? it->second.type : std::nullopt;
  }
  std::optional<int> Rank(const std::string& onnx_name) const {
    auto it = values_.find(onnx_name);
    if (it != values_.end()) return it->second.rank;
    if (const runtime::CheckpointTensor* c = Constant(onnx_name)) {
      return static_cast<int>(c->shape.size());
    }
    return std::nullopt;
  }
  std::string UniqueName(const std::string& base) {
    std::string name = base;
    for (int n = 2; !used_names_.insert(name).second; ++n) name = absl::StrCat(base, "_", n);
    return name;
  }
  void AddWeight(runtime::CheckpointTensor tensor) { weights_.push_back(std::move(tensor)); }
  absl::StatusOr<std::vector<int64_t>> Dims(const std::string& onnx_name);

 private:
  absl::Status CheckVersions();
  absl::Status ReadInitializers();
  absl::Status DeclareInputs();
  absl::Status ImportNode(const onnx::NodeProto& node);
  std::string Render() const;

  const onnx::ModelProto& model_;
  const ImportOptions& options_;
  int64_t opset_ = 0;
  std::map<std::string, runtime::CheckpointTensor> constants_;  // Initializers and Constants.
  std::map<std::string, ValueInfo> values_;                     // Tensors bound in the model.
  std::map<std::string, int> declared_ranks_;                   // From value_info and outputs.
  std::set<std::string> used_names_;
  std::vector<std::string> input_lines_, param_lines_, body_lines_;
  std::vector<runtime::CheckpointTensor> weights_;
  ImportedModel result_;
};

class NodeContextImpl : public NodeContext {
 public:
  NodeContextImpl(Importer& importer, const onnx::NodeProto& node, int64_t opset,
                  std::string output_name)
      : importer_(importer), node_(node), opset_(opset), output_name_(std::move(output_name)) {}

  const onnx::NodeProto& node() const override { return node_; }
  int64_t opset() const override { return opset_; }
  const std::string& output_name() const override { return output_name_; }
  std::optional<int> output_rank() const { return output_rank_; }

  absl::StatusOr<std::string> Operand(int i) override {
    if (!HasInput(i)) return Error(absl::StrCat("input ", i, " is missing"));
    return importer_.Operand(node_.input(i), *this);
  }
  absl::StatusOr<runtime::CheckpointTensor> ConstantInput(int i) override {
    if (!HasInput(i)) return Error(absl::StrCat("input ", i, " is missing"));
    const runtime::CheckpointTensor* c = importer_.Constant(node_.input(i));
    if (c == nullptr) {
      return Unsupported(absl::StrCat("input ", i, " ('", node_.input(i),
                                      "') must be a constant or an initializer"));
    }
    return *c;
  }
  std::optional<int> Rank(int i) const override {
    if (!HasInput(i)) return std::nullopt;
    return importer_.Rank(node_.input(i));
  }
  std::optional<runtime::ElementType> ElementTypeOf(int i) const override {
    if (!HasInput(i)) return std::nullopt;
    return importer_.ElementTypeOf(node_.input(i));
  }
  bool IsConstant(int i) const override {
    return HasInput(i) && importer_.Constant(node_.input(i)) != nullptr;
  }
  absl::StatusOr<std::vector<int64_t>> InputDims(int i) override {
    if (!HasInput(i)) return Error(absl::StrCat("input ", i, " is missing"));
    absl::StatusOr<std::vector<int64_t>> dims = importer_.Dims(node_.input(i));
    if (!dims.ok()) return Unsupported(std::string(dims.status().message()));
    return dims;
  }
  void SetOutputRank(int rank) override {
    if (rank >= 0) output_rank_ = rank;
  }
  void SetOutputNode(const std::string& layer_instance) override { output_node_ = layer_instance; }
  const std::string& output_node() const {
    return output_node_.empty() ? output_name_ : output_node_;
  }
  // The instance is the weight's name without ".weight" when it has that form (conv1.weight ->
  // conv1, as PyTorch names modules), else the node's output name. A module path with numbered
  // parts (layer1.0.conv1) is kept as it is, so that the layer's tensors keep the state_dict's
  // names; FormatLayerName quotes it for name=.
  absl::StatusOr<std::string> LayerInstance(int weight_input) override {
    const std::string& onnx_name = node_.input(weight_input);
    std::string weight = IsModulePath(onnx_name) ? onnx_name : KilnName(onnx_name, true);
    constexpr absl::string_view kSuffix = ".weight";
    if (weight.size() <= kSuffix.size() || !absl::EndsWith(weight, kSuffix)) return output_name_;
    return importer_.UniqueName(weight.substr(0, weight.size() - kSuffix.size()));
  }
  absl::Status StoreLayerTensor(const std::string& instance, const std::string& suffix,
                                int input) override {
    KILN_ASSIGN_OR_RETURN(runtime::CheckpointTensor tensor, ConstantInput(input));
    if (tensor.type != runtime::ElementType::kF32) {
      return Error(absl::StrCat("input ", input, " must be f32"));
    }
    tensor.name = absl::StrCat(instance, ".", suffix);
    importer_.AddWeight(std::move(tensor));
    return absl::OkStatus();
  }

 private:
  Importer& importer_;
  const onnx::NodeProto& node_;
  int64_t opset_;
  std::string output_name_;
  std::optional<int> output_rank_;
  std::string output_node_;
};

absl::Status Importer::CheckVersions() {
  if (model_.ir_version() < kMinIrVersion) {
    return absl::UnimplementedError(
        absl::StrCat("IR version ", model_.ir_version(), " is older than kiln import reads (3)"));
  }
  for (const onnx::OperatorSetIdProto& set : model_.opset_import()) {
    if (set.domain().empty() || set.domain() == "ai.onnx") opset_ = set.version();
  }
  if (opset_ < kMinOpset || opset_ > kMaxOpset) {
    return absl::UnimplementedError(absl::StrCat("opset ", opset_,
                                                 " is outside what kiln "
                                                 "import reads (",
                                                 kMinOpset, "-", kMaxOpset, ")"));
  }
  return absl::OkStatus();
}

absl::Status Importer::ReadInitializers() {
  for (const onnx::TensorProto& initializer : model_.graph().initializer()) {
    KILN_ASSIGN_OR_RETURN(runtime::CheckpointTensor tensor, TensorFromOnnx(initializer));
    constants_[initializer.name()] = std::move(tensor);
  }
  return absl::OkStatus();
}

// Graph inputs that are not initializers (before IR version 4 initializers are listed as inputs
// too) become `input` lines. The first input's symbolic (or unset) first dim is the batch dim.
absl::Status Importer::DeclareInputs() {
  bool first = true;
  for (const onnx::ValueInfoProto& input : model_.graph().input()) {
    if (constants_.count(input.name())) continue;
    const onnx::TypeProto& type = input.type();
    const char* dtype =
        type.has_tensor_type() ? DTypeName(type.tensor_type().elem_type()) : nullptr;
    if (dtype == nullptr) {
      return absl::UnimplementedError(
          absl::StrCat("input '", input.name(), "' is not an f32 or i64 tensor"));
    }
    std::vector<std::string> dims;
    const onnx::TensorShapeProto& shape = type.tensor_type().shape();
    for (int d = 0; d < shape.dim_size(); ++d) {
      const onnx::TensorShapeProto::Dimension& dim = shape.dim(d);
      if (dim.has_dim_value() && dim.dim_value() > 0) {
        if (dim.dim_value() > (int64_t{1} << 31)) {
          return absl::InvalidArgumentError(absl::StrCat("input '", input.name(), "' dim ", d,
                                                         " is too large (", dim.dim_value(), ")"));
        }
        dims.push_back(absl::StrCat(dim.dim_value()));
      } else if (first && d == 0) {
        dims.push_back("B");
      } else {
        return absl::UnimplementedError(
            absl::StrCat("input '", input.name(), "' dim ", d, " is symbolic ('", dim.dim_param(),
                         "'); kiln needs static shapes except the first input's batch dim"));
      }
    }
    first = false;
    std::string name = UniqueName(KilnName(input.name(), false));
    values_[input.name()] = {name, name, shape.dim_size(),
                             type.tensor_type().elem_type() == onnx::TensorProto::INT64
                                 ? runtime::ElementType::kI64
                                 : runtime::ElementType::kF32};
    input_lines_.push_back(
        absl::StrCat("input ", name, ": ", dtype, "[", absl::StrJoin(dims, ", "), "]"));
    result_.inputs.emplace_back(input.name(), name);
  }
  return absl::OkStatus();
}

// A one-element constant is written inline as a number; others become a param (the weights
// file holds its value).
absl::StatusOr<std::string> Importer::Operand(const std::string& onnx_name,
                                              const NodeContext& node) {
  if (auto it = values_.find(onnx_name); it != values_.end()) return it->second.kiln_name;
  const runtime::CheckpointTensor* constant = Constant(onnx_name);
  if (constant == nullptr) {
    return node.Error(
        absl::StrCat("reads '", onnx_name, "', which no node, graph input or initializer defines"));
  }
  if (constant->type == runtime::ElementType::kF32 && constant->shape.empty()) {
    return FormatNumber(TensorValues(*constant)[0]);
  }
  if (constant->type != runtime::ElementType::kF32) {
    return node.Unsupported(absl::StrCat("'", onnx_name,
                                         "' is an i64 constant used as a tensor; "
                                         "kiln parameters are f32"));
  }
  std::string name = UniqueName(KilnName(onnx_name, true));
  param_lines_.push_back(
      absl::StrCat("param ", name, ": ", TypeString("f32", constant->shape), " = zeros"));
  runtime::CheckpointTensor weight = *constant;
  weight.name = name;
  weights_.push_back(std::move(weight));
  values_[onnx_name] = {name, name, static_cast<int>(constant->shape.size()), constant->type};
  return name;
}

// The dims of a value computed so far, as kiln's frontend infers them: the model up to here
// is lowered for two batch sizes, and a dim that follows the batch one for one is B.
absl::StatusOr<std::vector<int64_t>> Importer::Dims(const std::string& onnx_name) {
  if (const runtime::CheckpointTensor* constant = Constant(onnx_name)) return constant->shape;
  auto it = values_.find(onnx_name);
  if (it == values_.end()) return absl::InvalidArgumentError("'" + onnx_name + "' is undefined");
  std::string source = "model probe {\n";
  for (const auto* lines : {&input_lines_, &param_lines_, &body_lines_}) {
    for (const std::string& line : *lines) absl::StrAppend(&source, "  ", line, "\n");
  }
  absl::StrAppend(&source, "  loss = mean(", it->second.kiln_name, ")\n}\n");
  constexpr int64_t kProbeBatch = 7919;
  std::vector<std::vector<int64_t>> shapes;
  for (int64_t batch : {kProbeBatch, kProbeBatch + 1}) {
    absl::StatusOr<frontend::ModelAst> ast = frontend::ParseModel(source, "probe.kiln");
    if (!ast.ok()) return absl::InternalError("the model so far does not parse");
    absl::StatusOr<ir::Graph> graph = frontend::LowerModel(*ast, {{"B", batch}});
    const ir::NodeId id = graph.ok() ? graph->FindByName(it->second.node_name) : ir::kNoNode;
    if (id == ir::kNoNode) {
      return absl::UnimplementedError(
          absl::StrCat("kiln cannot infer the shape of '", onnx_name, "' (only of an f32 tensor)"));
    }
    shapes.push_back(graph->node(id).type.shape);
  }
  std::vector<int64_t> dims = shapes[0];
  for (size_t d = 0; d < dims.size(); ++d) {
    if (shapes[0][d] == shapes[1][d]) continue;
    if (shapes[0][d] != kProbeBatch || shapes[1][d] != kProbeBatch + 1) {
      return absl::UnimplementedError(
          absl::StrCat("dim ", d, " of '", onnx_name, "' is a multiple of the batch dim"));
    }
    dims[d] = kBatchDim;
  }
  return dims;
}

absl::Status Importer::ImportNode(const onnx::NodeProto& node) {
  const bool default_domain = node.domain().empty() || node.domain() == "ai.onnx";
  const OpEmitter* emitter = default_domain ? FindOpEmitter(node.op_type()) : nullptr;
  const std::string label = NodeLabel(node, opset_);
  if (emitter == nullptr) {
    return absl::UnimplementedError(
        absl::StrCat(label, ": op ", default_domain ? "" : node.domain() + ".", node.op_type(),
                     " is not supported by kiln import"));
  }
  if (node.output_size() == 0 || node.output(0).empty()) {
    return absl::InvalidArgumentError(absl::StrCat(label, " has no output"));
  }
  const std::string& output = node.output(0);
  if (emitter->kind == OpKind::kConstant) {
    for (const onnx::AttributeProto& attr : node.attribute()) {
      if (attr.name() != "value") continue;
      KILN_ASSIGN_OR_RETURN(runtime::CheckpointTensor tensor, TensorFromOnnx(attr.t()));
      constants_[output] = std::move(tensor);
      return absl::OkStatus();
    }
    return absl::UnimplementedError(absl::StrCat(label, ": only a tensor `value` is supported"));
  }
  NodeContextImpl context(*this, node, opset_, UniqueName(KilnName(output, false)));
  if (emitter->kind == OpKind::kAlias) {
    // An alias of a constant is a constant under its own name. torch.onnx.export deduplicates
    // equal initializers (a freshly initialized batch norm's weights, two equal biases) into one
    // plus Identity nodes, and the layers that read them take constants.
    if (node.input_size() > 0 && !values_.count(node.input(0))) {
      if (const runtime::CheckpointTensor* constant = Constant(node.input(0))) {
        used_names_.erase(context.output_name());
        constants_[output] = *constant;
        return absl::OkStatus();
      }
    }
    KILN_ASSIGN_OR_RETURN(std::string source, context.Operand(0));
    used_names_.erase(context.output_name());
    ValueInfo info = values_.count(node.input(0)) ? values_[node.input(0)]
                                                  : ValueInfo{source, source, std::nullopt, {}};
    values_[output] = info;
    return absl::OkStatus();
  }
  if (emitter->fold != nullptr) {
    KILN_ASSIGN_OR_RETURN(std::optional<runtime::CheckpointTensor> folded, emitter->fold(context));
    if (folded) {
      used_names_.erase(context.output_name());
      constants_[output] = *std::move(folded);
      return absl::OkStatus();
    }
  }
  if (emitter->emit == nullptr) {
    return context.Unsupported("kiln import folds it only on constants (shape arithmetic)");
  }
  KILN_ASSIGN_OR_RETURN(std::string expr, emitter->emit(context));
  std::optional<int> rank = context.output_rank();
  if (!rank && emitter->rank_rule == RankRule::kSameAsInput0) rank = context.Rank(0);
  if (!rank && emitter->rank_rule == RankRule::kBroadcast) {
    std::optional<int> a = context.Rank(0), b = context.Rank(1);
    if (a && b) rank = std::max(*a, *b);
  }
  if (auto it = declared_ranks_.find(output); it != declared_ranks_.end()) rank = it->second;
  values_[output] = {context.output_name(), context.output_node(), rank};
  body_lines_.push_back(absl::StrCat(context.output_name(), " = ", expr));
  return absl::OkStatus();
}

std::string Importer::Render() const {
  std::string out =
      absl::StrCat("# Imported from ", options_.source_name, " by kiln import (producer ",
                   model_.producer_name().empty() ? "unknown" : model_.producer_name(),
                   ", IR version ", model_.ir_version(), ", opset ", opset_, ").\n");
  if (!options_.weights_path.empty()) {
    absl::StrAppend(&out, "# Its weights are in ", options_.weights_path,
                    " (the train section's init_weights loads them).\n");
  }
  absl::StrAppend(&out, "model ", options_.model_name, " {\n");
  for (const auto* lines : {&input_lines_, &param_lines_, &body_lines_}) {
    for (const std::string& line : *lines) absl::StrAppend(&out, "  ", line, "\n");
  }
  // The binding, which differs from the node name when the output is a layer's (name=).
  const std::string first_output =
      result_.outputs.empty() ? "" : values_.at(result_.outputs[0].first).kiln_name;
  absl::StrAppend(&out,
                  "  # kiln import cannot know the loss: this placeholder only makes the file "
                  "compile.\n  # Replace it, e.g. with `input labels: i64[B]` above and "
                  "`loss = cross_entropy(",
                  first_output, ", labels)`.\n", "  loss = mean(", first_output, ")\n}\n\n");
  absl::StrAppend(&out,
                  "# A stub to edit: the data, the optimizer, what to train.\n"
                  "train {\n"
                  "  data = fashion_mnist(scale=1/255)\n"
                  "  optimizer = sgd(lr=0.01)\n"
                  "  batch_size = 64\n"
                  "  epochs = 1\n"
                  "  # freeze = [...]\n");
  if (!options_.weights_path.empty()) {
    absl::StrAppend(&out, "  init_weights = \"", options_.weights_path, "\"\n");
  }
  absl::StrAppend(&out, "}\n");
  return out;
}

absl::StatusOr<ImportedModel> Importer::Run() {
  KILN_RETURN_IF_ERROR(CheckVersions());
  for (const std::string& name : ReservedNames()) used_names_.insert(name);
  const onnx::GraphProto& graph = model_.graph();
  for (const auto* infos : {&graph.value_info(), &graph.output()}) {
    for (const onnx::ValueInfoProto& info : *infos) {
      if (info.type().has_tensor_type() && info.type().tensor_type().has_shape()) {
        declared_ranks_[info.name()] = info.type().tensor_type().shape().dim_size();
      }
    }
  }
  KILN_RETURN_IF_ERROR(ReadInitializers());
  KILN_RETURN_IF_ERROR(DeclareInputs());
  KILN_ASSIGN_OR_RETURN(std::vector<int> order, TopologicalOrder(graph));
  for (int index : order) KILN_RETURN_IF_ERROR(ImportNode(graph.node(index)));
  if (graph.output_size() == 0) return absl::InvalidArgumentError("the graph has no outputs");
  for (const onnx::ValueInfoProto& output : graph.output()) {
    auto it = values_.find(output.name());
    if (it == values_.end()) {
      return absl::UnimplementedError(absl::StrCat(
          "output '", output.name(), "' is a constant or undefined; kiln outputs are computed"));
    }
    result_.outputs.emplace_back(output.name(), it->second.node_name);
  }
  result_.source = Render();
  result_.weights = std::move(weights_);
  return std::move(result_);
}

}  // namespace

absl::StatusOr<ImportedModel> ImportOnnxModel(const onnx::ModelProto& model,
                                              const ImportOptions& options) {
  return Importer(model, options).Run();
}

absl::StatusOr<ImportedModel> ImportOnnx(const std::string& bytes, const ImportOptions& options) {
  onnx::ModelProto model;
  if (bytes.empty() || !model.ParseFromString(bytes)) {
    return absl::InvalidArgumentError("not an ONNX model (the protobuf does not parse)");
  }
  if (!model.has_graph()) return absl::InvalidArgumentError("not an ONNX model (no graph)");
  return ImportOnnxModel(model, options);
}

std::string EncodeWeights(const std::string& model_name,
                          const std::vector<runtime::CheckpointTensor>& weights) {
  runtime::CheckpointState state;
  state.model_name = model_name;
  return runtime::EncodeCheckpoint(state, weights);
}

}  // namespace kiln::interop
