// What an op emitter (op_emitters.cc) sees of one ONNX node: its attributes, its inputs as kiln
// expressions or folded constants, and a way to name the parameters a kiln layer creates. The
// importer (onnx_importer.cc) implements it over the graph being converted.
#ifndef KILN_INTEROP_ONNX_NODE_CONTEXT_H_
#define KILN_INTEROP_ONNX_NODE_CONTEXT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "onnx/onnx.pb.h"
#include "runtime/checkpoint.h"

namespace kiln::interop {

class NodeContext {
 public:
  virtual ~NodeContext() = default;

  virtual const onnx::NodeProto& node() const = 0;
  virtual int64_t opset() const = 0;
  // The kiln name the node's first output is bound to (also a layer's instance name candidate).
  virtual const std::string& output_name() const = 0;

  // Input `i` is given (ONNX marks an omitted optional input with an empty name).
  bool HasInput(int i) const { return i < node().input_size() && !node().input(i).empty(); }
  // Input `i` as an operand: a name, or a number for a folded one-element constant. A constant
  // or initializer used this way becomes a `param` of the model.
  virtual absl::StatusOr<std::string> Operand(int i) = 0;
  // Input `i` as a compile-time constant (initializer or Constant output), e.g. a Reshape shape.
  virtual absl::StatusOr<runtime::CheckpointTensor> ConstantInput(int i) = 0;
  // Input `i` is a constant or initializer (so ConstantInput succeeds).
  virtual bool IsConstant(int i) const = 0;
  // The static dims of input `i`, the batch dim as kBatchDim (the importer asks kiln's frontend
  // for the type of the value so far). An error when a dim depends on B other than as B itself.
  virtual absl::StatusOr<std::vector<int64_t>> InputDims(int i) = 0;
  // The input's rank where the importer knows it (declared inputs, value_info, ops that set it).
  virtual std::optional<int> Rank(int i) const = 0;
  // The input's element type where it is declared (graph inputs, initializers, Constants).
  virtual std::optional<runtime::ElementType> ElementTypeOf(int i) const = 0;
  virtual void SetOutputRank(int rank) = 0;
  // The graph node the output is, when the emitted layer names it (name=) rather than the
  // binding: a graph output or a shape probe then finds it.
  virtual void SetOutputNode(const std::string& layer_instance) = 0;
  // Stores `tensor` in the weights file as `<instance>.<suffix>`, for a layer (conv2d,
  // batch_norm2d) that creates that parameter itself. Returns the instance name to pass as name=.
  virtual absl::StatusOr<std::string> LayerInstance(int weight_input) = 0;
  virtual absl::Status StoreLayerTensor(const std::string& instance, const std::string& suffix,
                                        int input) = 0;

  // Attributes with ONNX's defaults.
  int64_t Int(const std::string& name, int64_t fallback) const;
  float Float(const std::string& name, float fallback) const;
  std::string String(const std::string& name, const std::string& fallback) const;
  std::vector<int64_t> Ints(const std::string& name) const;
  bool HasAttribute(const std::string& name) const;

  // "Conv 'conv1' (opset 13): <what>" as an InvalidArgument / Unimplemented error.
  absl::Status Error(const std::string& what) const;
  absl::Status Unsupported(const std::string& what) const;
};

// "node Conv 'conv1' (opset 13)"; a node without a name is called after its first output.
std::string NodeLabel(const onnx::NodeProto& node, int64_t opset);

// The batch dim B in folded shape constants (a value no real dim takes).
inline constexpr int64_t kBatchDim = -1000003;

// "[B, -1]": a shape list, kBatchDim written as B.
std::string FormatDims(const std::vector<int64_t>& dims);

// A layer instance as a name= argument: bare when every dotted part starts like a name
// (layer1.conv1), else in quotes ("layer1.0.conv1").
std::string FormatLayerName(const std::string& instance);

// Formats a number so that parsing it gives the same f32 (and integers without a point).
std::string FormatNumber(double value);
// "[1, 2, 3]"
std::string FormatList(const std::vector<int64_t>& values);

}  // namespace kiln::interop

#endif  // KILN_INTEROP_ONNX_NODE_CONTEXT_H_
