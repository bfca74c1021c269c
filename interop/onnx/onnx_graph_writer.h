// Builds an ONNX ModelProto node by node for kiln export: graph inputs and outputs with symbolic
// dims, initializers from kiln tensors, nodes with attributes, names made unique.
//
//   OnnxGraphWriter writer("fashion_mlp", /*opset=*/17);
//   writer.AddInput("x", runtime::ElementType::kF32, {"N", "784"});
//   writer.AddInitializer(weight);                      // a runtime::CheckpointTensor
//   writer.AddNode("MatMul", {"x", "fc1.weight"}, {"h"});
//   writer.AddOutput("h", runtime::ElementType::kF32, {"N", "128"});
//   onnx::ModelProto model = writer.Finish();
#ifndef KILN_INTEROP_ONNX_ONNX_GRAPH_WRITER_H_
#define KILN_INTEROP_ONNX_ONNX_GRAPH_WRITER_H_

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "onnx/onnx.pb.h"
#include "runtime/checkpoint.h"

namespace kiln::interop {

// One node attribute.
struct OnnxAttr {
  static OnnxAttr Int(std::string name, int64_t value);
  static OnnxAttr Ints(std::string name, std::vector<int64_t> values);
  static OnnxAttr Float(std::string name, float value);
  onnx::AttributeProto proto;
};

class OnnxGraphWriter {
 public:
  OnnxGraphWriter(const std::string& graph_name, int64_t opset);

  int64_t opset() const { return opset_; }
  // `base` if no value has that name yet, else base_2, base_3, ...; the name is then taken.
  std::string UniqueName(const std::string& base);
  // Dims are numbers ("784") or symbols ("N").
  void AddInput(const std::string& name, runtime::ElementType type,
                const std::vector<std::string>& dims);
  void AddOutput(const std::string& name, runtime::ElementType type,
                 const std::vector<std::string>& dims);
  // Under the tensor's own name (which must be unique).
  void AddInitializer(const runtime::CheckpointTensor& tensor);
  // A new initializer named after `base`; returns its name.
  std::string AddConstant(const std::string& base, const std::vector<int64_t>& values);
  std::string AddConstant(const std::string& base, const std::vector<float>& values,
                          const std::vector<int64_t>& shape);
  void AddNode(const std::string& op_type, const std::vector<std::string>& inputs,
               const std::vector<std::string>& outputs, std::vector<OnnxAttr> attrs = {});

  const onnx::GraphProto& graph() const { return model_.graph(); }
  onnx::ModelProto Finish() const { return model_; }

 private:
  onnx::ValueInfoProto ValueInfo(const std::string& name, runtime::ElementType type,
                                 const std::vector<std::string>& dims) const;

  onnx::ModelProto model_;
  int64_t opset_;
  std::set<std::string> names_;
  int node_count_ = 0;
};

// The ONNX element type of a kiln tensor type (FLOAT or INT64).
int32_t OnnxElementType(runtime::ElementType type);

}  // namespace kiln::interop

#endif  // KILN_INTEROP_ONNX_ONNX_GRAPH_WRITER_H_
