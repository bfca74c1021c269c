// Small ONNX models built in C++ for the importer's tests (no Python, no files).
#ifndef KILN_TESTS_INTEROP_ONNX_TEST_MODELS_H_
#define KILN_TESTS_INTEROP_ONNX_TEST_MODELS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "onnx/onnx.pb.h"

namespace kiln::interop::testing {

inline onnx::ModelProto NewModel(int64_t opset = 13) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.set_producer_name("kiln-test");
  onnx::OperatorSetIdProto* set = model.add_opset_import();
  set->set_domain("");
  set->set_version(opset);
  model.mutable_graph()->set_name("g");
  return model;
}

// A dim of -1 is symbolic ("batch").
inline void AddInput(onnx::GraphProto& graph, const std::string& name,
                     const std::vector<int64_t>& dims) {
  onnx::ValueInfoProto* input = graph.add_input();
  input->set_name(name);
  onnx::TypeProto_Tensor* tensor = input->mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) {
    onnx::TensorShapeProto_Dimension* dim = tensor->mutable_shape()->add_dim();
    if (d < 0) {
      dim->set_dim_param("batch");
    } else {
      dim->set_dim_value(d);
    }
  }
}

inline void AddOutput(onnx::GraphProto& graph, const std::string& name) {
  graph.add_output()->set_name(name);
}

inline onnx::TensorProto* AddInitializer(onnx::GraphProto& graph, const std::string& name,
                                         const std::vector<int64_t>& dims,
                                         const std::vector<float>& values) {
  onnx::TensorProto* tensor = graph.add_initializer();
  tensor->set_name(name);
  tensor->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) tensor->add_dims(d);
  for (float v : values) tensor->add_float_data(v);
  return tensor;
}

inline onnx::TensorProto* AddIntInitializer(onnx::GraphProto& graph, const std::string& name,
                                            const std::vector<int64_t>& dims,
                                            const std::vector<int64_t>& values) {
  onnx::TensorProto* tensor = graph.add_initializer();
  tensor->set_name(name);
  tensor->set_data_type(onnx::TensorProto::INT64);
  for (int64_t d : dims) tensor->add_dims(d);
  for (int64_t v : values) tensor->add_int64_data(v);
  return tensor;
}

inline onnx::NodeProto* AddNode(onnx::GraphProto& graph, const std::string& op,
                                const std::vector<std::string>& inputs,
                                const std::vector<std::string>& outputs,
                                const std::string& name = "") {
  onnx::NodeProto* node = graph.add_node();
  node->set_op_type(op);
  node->set_name(name);
  for (const std::string& input : inputs) node->add_input(input);
  for (const std::string& output : outputs) node->add_output(output);
  return node;
}

inline void SetInt(onnx::NodeProto& node, const std::string& name, int64_t value) {
  onnx::AttributeProto* attr = node.add_attribute();
  attr->set_name(name);
  attr->set_type(onnx::AttributeProto::INT);
  attr->set_i(value);
}

inline void SetInts(onnx::NodeProto& node, const std::string& name,
                    const std::vector<int64_t>& values) {
  onnx::AttributeProto* attr = node.add_attribute();
  attr->set_name(name);
  attr->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) attr->add_ints(v);
}

}  // namespace kiln::interop::testing

#endif  // KILN_TESTS_INTEROP_ONNX_TEST_MODELS_H_
