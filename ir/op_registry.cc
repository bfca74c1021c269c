#include "ir/op_registry.h"

#include <cassert>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "support/source_location.h"

namespace kiln::ir {

const OpRegistry& OpRegistry::Global() {
  static const OpRegistry* registry = [] {
    auto* r = new OpRegistry;
    RegisterLeafOps(*r);
    RegisterElementwiseOps(*r);
    RegisterReductionOps(*r);
    RegisterShapeOps(*r);
    RegisterMatmulOps(*r);
    RegisterNnOps(*r);
    RegisterNormOps(*r);
    RegisterWindowOps(*r);
    RegisterConvOps(*r);
    RegisterRnnOps(*r);
    RegisterLossOps(*r);
    RegisterCollectiveOps(*r);
    return r;
  }();
  return *registry;
}

void OpRegistry::Add(OpDef def) {
  assert(!ops_.count(def.name) && "op registered twice");
  std::string name = def.name;
  ops_.emplace(std::move(name), std::move(def));
}

const OpDef* OpRegistry::Find(const std::string& name) const {
  auto it = ops_.find(name);
  return it == ops_.end() ? nullptr : &it->second;
}

absl::StatusOr<const OpDef*> OpRegistry::Lookup(const std::string& name) const {
  if (const OpDef* def = Find(name)) return def;
  return absl::NotFoundError(absl::StrCat("unknown op '", name, "'", DidYouMean(name, Names())));
}

std::vector<std::string> OpRegistry::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, def] : ops_) names.push_back(name);
  return names;
}

OpRef::OpRef(std::string name)
    : name_(std::move(name)), def_(OpRegistry::Global().Find(name_)) {}

const OpDef& OpOf(const Node& node) {
  assert(node.op.def() != nullptr && "node with unregistered op");
  return *node.op.def();
}

}  // namespace kiln::ir
