// The table of all ops. Each op family registers itself by an explicit call listed once in
// op_registry.cc (static initializers would be dropped by the linker).
#ifndef KILN_IR_OP_REGISTRY_H_
#define KILN_IR_OP_REGISTRY_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/op_def.h"

namespace kiln::ir {

class OpRegistry {
 public:
  // The registry with every op kiln knows.
  static const OpRegistry& Global();

  void Add(OpDef def);
  const OpDef* Find(const std::string& name) const;
  // Like Find, but an error naming the closest known op when absent.
  absl::StatusOr<const OpDef*> Lookup(const std::string& name) const;
  std::vector<std::string> Names() const;

 private:
  std::map<std::string, OpDef> ops_;
};

// The record of the node's op (resolved when the op was assigned); the op must be registered.
const OpDef& OpOf(const Node& node);

// Op families (ir/ops/*.cc).
void RegisterLeafOps(OpRegistry& r);
void RegisterElementwiseOps(OpRegistry& r);
void RegisterReductionOps(OpRegistry& r);
void RegisterShapeOps(OpRegistry& r);
void RegisterMatmulOps(OpRegistry& r);
void RegisterNnOps(OpRegistry& r);
void RegisterNormOps(OpRegistry& r);
void RegisterWindowOps(OpRegistry& r);
void RegisterConvOps(OpRegistry& r);
void RegisterRnnOps(OpRegistry& r);
void RegisterLossOps(OpRegistry& r);
void RegisterCollectiveOps(OpRegistry& r);

}  // namespace kiln::ir

#endif  // KILN_IR_OP_REGISTRY_H_
