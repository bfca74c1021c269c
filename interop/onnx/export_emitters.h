// The kiln ops kiln export writes as ONNX: one table from an op's record to the function that
// writes its node(s). Composite ops without a row are expanded (evaluation form) into primitives
// that have one; an op with neither is a one-line error naming it.
#ifndef KILN_INTEROP_ONNX_EXPORT_EMITTERS_H_
#define KILN_INTEROP_ONNX_EXPORT_EMITTERS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "interop/onnx/onnx_graph_writer.h"
#include "ir/graph.h"
#include "ir/op_def.h"

namespace kiln::interop {

// What an export emitter sees of one kiln node.
class ExportContext {
 public:
  ExportContext(const ir::Graph& graph, const ir::Node& node, OnnxGraphWriter& writer,
                const std::vector<std::string>& names, const std::vector<std::vector<bool>>& batch)
      : graph_(graph), node_(node), writer_(writer), names_(names), batch_(batch) {}

  const ir::Node& node() const { return node_; }
  OnnxGraphWriter& writer() { return writer_; }
  int64_t opset() const { return writer_.opset(); }
  // The ONNX value holding operand i, and its kiln type.
  const std::string& Input(int i) const { return names_[node_.operands[i]]; }
  const ir::TensorType& InputType(int i) const { return graph_.node(node_.operands[i]).type; }
  // The ONNX value the node's result must be written to.
  const std::string& Output() const { return names_[node_.id]; }
  // Per dim of the node's result (or of operand i): does its size follow the batch size?
  const std::vector<bool>& BatchDims() const { return batch_[node_.id]; }
  const std::vector<bool>& InputBatchDims(int i) const { return batch_[node_.operands[i]]; }
  // A fresh name for an intermediate value of this node.
  std::string Temp(const std::string& what) { return writer_.UniqueName(Output() + "/" + what); }
  absl::Status Unsupported(const std::string& what) const;

 private:
  const ir::Graph& graph_;
  const ir::Node& node_;
  OnnxGraphWriter& writer_;
  const std::vector<std::string>& names_;
  const std::vector<std::vector<bool>>& batch_;
};

struct ExportEmitter {
  const char* op;  // The kiln op's record name.
  absl::Status (*emit)(ExportContext& context);
};

// nullptr where the op has no row (leaves are the exporter's own business).
const ExportEmitter* FindExportEmitter(const ir::OpDef& op);

}  // namespace kiln::interop

#endif  // KILN_INTEROP_ONNX_EXPORT_EMITTERS_H_
