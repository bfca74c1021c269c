#include "interop/onnx/node_context.h"

#include <cctype>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kiln::interop {
namespace {

const onnx::AttributeProto* FindAttribute(const onnx::NodeProto& node, const std::string& name) {
  for (const onnx::AttributeProto& attr : node.attribute()) {
    if (attr.name() == name) return &attr;
  }
  return nullptr;
}

}  // namespace

std::string NodeLabel(const onnx::NodeProto& node, int64_t opset) {
  std::string name = node.name();
  if (name.empty() && node.output_size() > 0) name = "-> " + node.output(0);
  return absl::StrCat("node ", node.op_type(), " '", name, "' (opset ", opset, ")");
}

std::string FormatLayerName(const std::string& instance) {
  for (absl::string_view part : absl::StrSplit(instance, '.')) {
    if (part.empty() || std::isdigit(static_cast<unsigned char>(part[0]))) {
      return absl::StrCat("\"", instance, "\"");
    }
  }
  return instance;
}

bool NodeContext::HasAttribute(const std::string& name) const {
  return FindAttribute(node(), name) != nullptr;
}

int64_t NodeContext::Int(const std::string& name, int64_t fallback) const {
  const onnx::AttributeProto* attr = FindAttribute(node(), name);
  return attr == nullptr ? fallback : attr->i();
}

float NodeContext::Float(const std::string& name, float fallback) const {
  const onnx::AttributeProto* attr = FindAttribute(node(), name);
  return attr == nullptr ? fallback : attr->f();
}

std::string NodeContext::String(const std::string& name, const std::string& fallback) const {
  const onnx::AttributeProto* attr = FindAttribute(node(), name);
  return attr == nullptr ? fallback : attr->s();
}

std::vector<int64_t> NodeContext::Ints(const std::string& name) const {
  const onnx::AttributeProto* attr = FindAttribute(node(), name);
  if (attr == nullptr) return {};
  return std::vector<int64_t>(attr->ints().begin(), attr->ints().end());
}

absl::Status NodeContext::Error(const std::string& what) const {
  return absl::InvalidArgumentError(absl::StrCat(NodeLabel(node(), opset()), ": ", what));
}

absl::Status NodeContext::Unsupported(const std::string& what) const {
  return absl::UnimplementedError(
      absl::StrCat(NodeLabel(node(), opset()), ": not supported by kiln import: ", what));
}

}  // namespace kiln::interop
