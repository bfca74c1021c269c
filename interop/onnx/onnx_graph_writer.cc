#include "interop/onnx/onnx_graph_writer.h"

#include <cctype>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace kiln::interop {
namespace {

// ONNX IR version 8 goes with opsets 14-18, 9 with 19-20 and 10 with 21.
int64_t IrVersionFor(int64_t opset) {
  if (opset >= 21) return 10;
  if (opset >= 19) return 9;
  if (opset >= 14) return 8;
  return 7;
}

}  // namespace

OnnxAttr OnnxAttr::Int(std::string name, int64_t value) {
  OnnxAttr attr;
  attr.proto.set_name(std::move(name));
  attr.proto.set_type(onnx::AttributeProto::INT);
  attr.proto.set_i(value);
  return attr;
}

OnnxAttr OnnxAttr::Ints(std::string name, std::vector<int64_t> values) {
  OnnxAttr attr;
  attr.proto.set_name(std::move(name));
  attr.proto.set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) attr.proto.add_ints(v);
  return attr;
}

OnnxAttr OnnxAttr::Float(std::string name, float value) {
  OnnxAttr attr;
  attr.proto.set_name(std::move(name));
  attr.proto.set_type(onnx::AttributeProto::FLOAT);
  attr.proto.set_f(value);
  return attr;
}

int32_t OnnxElementType(runtime::ElementType type) {
  return type == runtime::ElementType::kI64 ? onnx::TensorProto::INT64 : onnx::TensorProto::FLOAT;
}

OnnxGraphWriter::OnnxGraphWriter(const std::string& graph_name, int64_t opset) : opset_(opset) {
  model_.set_ir_version(IrVersionFor(opset));
  model_.set_producer_name("kiln");
  model_.set_producer_version("1");
  onnx::OperatorSetIdProto* set = model_.add_opset_import();
  set->set_domain("");
  set->set_version(opset);
  model_.mutable_graph()->set_name(graph_name);
}

std::string OnnxGraphWriter::UniqueName(const std::string& base) {
  std::string name = base.empty() ? "v" : base;
  for (int i = 2; names_.count(name) > 0; ++i) name = absl::StrCat(base, "_", i);
  names_.insert(name);
  return name;
}

onnx::ValueInfoProto OnnxGraphWriter::ValueInfo(const std::string& name,
                                                runtime::ElementType type,
                                                const std::vector<std::string>& dims) const {
  onnx::ValueInfoProto info;
  info.set_name(name);
  onnx::TypeProto::Tensor* tensor = info.mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(OnnxElementType(type));
  onnx::TensorShapeProto* shape = tensor->mutable_shape();
  for (const std::string& d : dims) {
    onnx::TensorShapeProto::Dimension* dim = shape->add_dim();
    if (!d.empty() && std::isdigit(static_cast<unsigned char>(d[0]))) {
      dim->set_dim_value(std::stoll(d));
    } else {
      dim->set_dim_param(d);
    }
  }
  return info;
}

void OnnxGraphWriter::AddInput(const std::string& name, runtime::ElementType type,
                               const std::vector<std::string>& dims) {
  *model_.mutable_graph()->add_input() = ValueInfo(name, type, dims);
}

void OnnxGraphWriter::AddOutput(const std::string& name, runtime::ElementType type,
                                const std::vector<std::string>& dims) {
  *model_.mutable_graph()->add_output() = ValueInfo(name, type, dims);
}

void OnnxGraphWriter::AddInitializer(const runtime::CheckpointTensor& tensor) {
  onnx::TensorProto* proto = model_.mutable_graph()->add_initializer();
  proto->set_name(tensor.name);
  proto->set_data_type(OnnxElementType(tensor.type));
  for (int64_t d : tensor.shape) proto->add_dims(d);
  proto->set_raw_data(tensor.bytes);  // Both formats are little-endian.
}

std::string OnnxGraphWriter::AddConstant(const std::string& base,
                                         const std::vector<int64_t>& values) {
  runtime::CheckpointTensor tensor;
  tensor.name = UniqueName(base);
  tensor.type = runtime::ElementType::kI64;
  tensor.shape = {static_cast<int64_t>(values.size())};
  tensor.bytes.resize(values.size() * sizeof(int64_t));
  if (!values.empty()) std::memcpy(tensor.bytes.data(), values.data(), tensor.bytes.size());
  AddInitializer(tensor);
  return tensor.name;
}

std::string OnnxGraphWriter::AddConstant(const std::string& base, const std::vector<float>& values,
                                         const std::vector<int64_t>& shape) {
  runtime::CheckpointTensor tensor;
  tensor.name = UniqueName(base);
  tensor.shape = shape;
  tensor.bytes.resize(values.size() * sizeof(float));
  if (!values.empty()) std::memcpy(tensor.bytes.data(), values.data(), tensor.bytes.size());
  AddInitializer(tensor);
  return tensor.name;
}

void OnnxGraphWriter::AddNode(const std::string& op_type, const std::vector<std::string>& inputs,
                              const std::vector<std::string>& outputs, std::vector<OnnxAttr> attrs) {
  onnx::NodeProto* node = model_.mutable_graph()->add_node();
  node->set_op_type(op_type);
  node->set_name(absl::StrCat(op_type, "_", node_count_++));
  for (const std::string& in : inputs) node->add_input(in);
  for (const std::string& out : outputs) node->add_output(out);
  for (OnnxAttr& attr : attrs) *node->add_attribute() = std::move(attr.proto);
}

}  // namespace kiln::interop
