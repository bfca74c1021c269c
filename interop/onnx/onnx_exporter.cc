#include "interop/onnx/onnx_exporter.h"

#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "interop/onnx/export_emitters.h"
#include "interop/onnx/onnx_graph_writer.h"
#include "ir/op_registry.h"
#include "passes/expand_composites.h"
#include "support/status.h"

namespace kiln::interop {
namespace {

using WeightsByName = std::map<std::string, const runtime::CheckpointTensor*>;

runtime::ElementType ElementTypeOf(ir::DType dtype) {
  return dtype == ir::DType::kI64 ? runtime::ElementType::kI64 : runtime::ElementType::kF32;
}

// The forward graph at batch size `batch`: only what the loss's prediction operand needs, with
// the composites no export emitter writes expanded in their evaluation form.
absl::StatusOr<ir::Graph> EvaluationGraph(const frontend::ModelAst& ast, int64_t batch) {
  KILN_ASSIGN_OR_RETURN(ir::Graph graph,
                        frontend::LowerModel(ast, {{frontend::BatchDimName(ast), batch}}));
  const ir::NodeId loss = graph.Output("loss");
  if (loss == ir::kNoNode || graph.node(loss).operands.empty()) {
    return absl::InvalidArgumentError("kiln export: the model binds no loss of a prediction");
  }
  const ir::NodeId prediction = graph.node(loss).operands[0];
  std::vector<bool> keep(graph.size(), false);
  keep[prediction] = true;
  for (ir::NodeId id = prediction; id >= 0; --id) {
    if (!keep[id]) continue;
    for (ir::NodeId operand : graph.node(id).operands) keep[operand] = true;
  }
  graph.outputs.clear();
  graph.updates.clear();
  graph.outputs.emplace_back("prediction", prediction);
  graph.Compact(keep);
  KILN_RETURN_IF_ERROR(passes::ExpandComposites(graph, /*training=*/false, [](const ir::OpDef& op) {
                         return FindExportEmitter(op) == nullptr;
                       }).status());
  return graph;
}

// A leaf: a graph input, an initializer from the weights, or a constant initializer.
absl::Status WriteLeaf(const ir::Node& node, const std::string& name,
                       const std::vector<std::string>& dims, const WeightsByName& weights,
                       OnnxGraphWriter& writer) {
  const ir::OpDef& def = ir::OpOf(node);
  const runtime::ElementType type = ElementTypeOf(node.type.dtype);
  if (def.IsBoundLeaf() && !def.Has(ir::kPersistent)) {  // An input.
    writer.AddInput(name, type, dims);
    return absl::OkStatus();
  }
  if (def.Has(ir::kPersistent)) {
    auto it = weights.find(node.name);
    if (it == weights.end()) {
      return absl::NotFoundError(
          absl::StrCat("the weights have no tensor '", node.name, "' (a ", node.op.name(),
                       " of the model, ", node.type.ToString(), ")"));
    }
    const runtime::CheckpointTensor& tensor = *it->second;
    if (tensor.shape != node.type.shape || tensor.type != type) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "the weights' tensor '%s' has shape %s, the model expects %s", node.name,
          ir::ShapeToString(tensor.shape), node.type.ToString()));
    }
    writer.AddInitializer(tensor);
    return absl::OkStatus();
  }
  // A constant (iota, also a generator, reads its coordinates).
  if (def.Has(ir::kGenerator) && !def.Has(ir::kReadsCoordinates)) {
    const double value = node.attrs.GetFloat("value");
    runtime::CheckpointTensor tensor{.name = name, .type = type, .shape = node.type.shape};
    const int64_t n = node.type.num_elements();
    tensor.bytes.resize(n * 4 * (type == runtime::ElementType::kI64 ? 2 : 1));
    for (int64_t i = 0; i < n; ++i) {
      if (type == runtime::ElementType::kI64) {
        const int64_t v = static_cast<int64_t>(value);
        std::memcpy(tensor.bytes.data() + i * 8, &v, 8);
      } else {
        const float v = static_cast<float>(value);
        std::memcpy(tensor.bytes.data() + i * 4, &v, 4);
      }
    }
    writer.AddInitializer(tensor);
    return absl::OkStatus();
  }
  return absl::UnimplementedError(absl::StrCat(node.loc.ToString(), ": kiln export: ",
                                               node.op.name(), " '", node.name,
                                               "' has no ONNX form"));
}

// Writes `graph` (lowered at batch size `batch`); `batch_dims[id][d]`: dim d of node id's value
// follows the batch size.
absl::StatusOr<onnx::ModelProto> WriteModel(const ir::Graph& graph, int64_t batch,
                                            const std::vector<std::vector<bool>>& batch_dims,
                                            const WeightsByName& weights, int64_t opset) {
  OnnxGraphWriter writer(graph.name, opset);
  const ir::NodeId output = graph.outputs[0].second;
  std::vector<std::string> names(graph.size());
  // Inputs and weights keep their names; other values are named after the model's names.
  for (const ir::Node& node : graph.nodes()) {
    if (ir::OpOf(node).IsBoundLeaf()) names[node.id] = writer.UniqueName(node.name);
  }
  for (const ir::Node& node : graph.nodes()) {
    if (names[node.id].empty()) {
      names[node.id] = writer.UniqueName(node.name.empty() ? absl::StrCat("v", node.id) : node.name);
    }
  }
  auto dims_of = [&](ir::NodeId id) {
    std::vector<std::string> dims;
    const ir::Shape& shape = graph.node(id).type.shape;
    for (size_t d = 0; d < shape.size(); ++d) {
      if (!batch_dims[id][d]) {
        dims.push_back(absl::StrCat(shape[d]));
      } else {
        dims.push_back(shape[d] == batch ? "N" : absl::StrCat("N_", names[id], "_", d));
      }
    }
    return dims;
  };
  for (const ir::Node& node : graph.nodes()) {
    const ir::OpDef& def = ir::OpOf(node);
    if (def.Has(ir::kLeaf)) {
      KILN_RETURN_IF_ERROR(WriteLeaf(node, names[node.id], dims_of(node.id), weights, writer));
      continue;
    }
    const ExportEmitter* emitter = FindExportEmitter(def);
    if (emitter == nullptr) {
      return absl::UnimplementedError(absl::StrCat(node.loc.ToString(), ": kiln export: op ",
                                                   node.op.name(), " has no ONNX form"));
    }
    ExportContext context(graph, node, writer, names, batch_dims);
    KILN_RETURN_IF_ERROR(emitter->emit(context));
  }
  std::string output_name = names[output];
  if (ir::OpOf(graph.node(output)).Has(ir::kLeaf)) {
    output_name = writer.UniqueName("output");
    writer.AddNode("Identity", {names[output]}, {output_name});
  }
  writer.AddOutput(output_name, ElementTypeOf(graph.node(output).type.dtype), dims_of(output));
  return writer.Finish();
}

// The nodes and initializers, which must not depend on the batch size for a symbolic batch dim.
std::string Body(const onnx::ModelProto& model) {
  onnx::GraphProto body = model.graph();
  body.clear_input();
  body.clear_output();
  return body.SerializeAsString();
}

}  // namespace

absl::StatusOr<ExportedModel> ExportOnnx(const frontend::ModelAst& ast,
                                         const std::vector<runtime::CheckpointTensor>& weights,
                                         const ExportOptions& options) {
  if (options.opset < 13 || options.opset > 21) {
    return absl::InvalidArgumentError(
        absl::StrCat("--opset must be between 13 and 21, got ", options.opset));
  }
  WeightsByName by_name;
  for (const runtime::CheckpointTensor& tensor : weights) by_name[tensor.name] = &tensor;

  // Two batch sizes tell which dims follow the batch; the model is symbolic in N when the two
  // exports differ only there.
  constexpr int64_t kFirst = 2, kSecond = 3;
  KILN_ASSIGN_OR_RETURN(ir::Graph first, EvaluationGraph(ast, kFirst));
  KILN_ASSIGN_OR_RETURN(ir::Graph second, EvaluationGraph(ast, kSecond));
  if (first.size() == second.size()) {
    std::vector<std::vector<bool>> batch_dims(first.size());
    bool aligned = true;
    for (ir::NodeId id = 0; id < first.size() && aligned; ++id) {
      const ir::Shape& a = first.node(id).type.shape;
      const ir::Shape& b = second.node(id).type.shape;
      aligned = first.node(id).op.name() == second.node(id).op.name() && a.size() == b.size();
      for (size_t d = 0; aligned && d < a.size(); ++d) batch_dims[id].push_back(a[d] != b[d]);
    }
    if (aligned) {
      KILN_ASSIGN_OR_RETURN(onnx::ModelProto a,
                            WriteModel(first, kFirst, batch_dims, by_name, options.opset));
      KILN_ASSIGN_OR_RETURN(onnx::ModelProto b,
                            WriteModel(second, kSecond, batch_dims, by_name, options.opset));
      if (Body(a) == Body(b)) return ExportedModel{std::move(a), true};
    }
  }
  KILN_ASSIGN_OR_RETURN(ir::Graph fixed, EvaluationGraph(ast, options.fixed_batch));
  std::vector<std::vector<bool>> none(fixed.size());
  for (ir::NodeId id = 0; id < fixed.size(); ++id) none[id].assign(fixed.node(id).type.rank(), false);
  KILN_ASSIGN_OR_RETURN(onnx::ModelProto model,
                        WriteModel(fixed, options.fixed_batch, none, by_name, options.opset));
  return ExportedModel{std::move(model), false};
}

}  // namespace kiln::interop
