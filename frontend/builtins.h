// The functions a model can call, as tables: plain ops (one IR node each, arguments mapped to
// operands and attrs) and layers (ops that create their own parameters). Adding conv2d or
// batch_norm is one LayerDef entry in layers.cc.
#ifndef KILN_FRONTEND_BUILTINS_H_
#define KILN_FRONTEND_BUILTINS_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "frontend/args.h"
#include "frontend/value.h"
#include "ir/graph.h"
#include "ir/graph_builder.h"

namespace kiln::frontend {

// How an op argument becomes part of the node.
enum class ArgKind {
  kTensor,          // An operand.
  kOptionalTensor,  // An operand that may be left out (class weights of nll_loss).
  kOperand,         // An operand; a number becomes a scalar constant (add(x, 1)).
  kInt,             // An attr, int64.
  kNumber,          // An attr, double.
  kBool,            // An attr, int64 0/1.
  kWord,            // An attr, string: reduction=mean or reduction="mean".
  kInts,            // An attr, list of int64 (a single integer is a list of one).
};

struct OpParam {
  std::string name;  // Keyword and attr name.
  ArgKind kind = ArgKind::kTensor;
  std::optional<ir::AttrValue> fallback;  // Attr value when the argument is left out.
  bool required = false;                  // For attrs; tensors are required unless optional.
};

struct OpBuiltin {
  std::string name;  // The name in .kiln files.
  std::vector<OpParam> params;
  // Fills or checks attrs that depend on the operand types (default reduction dims, say). An
  // error is reported at the call.
  std::function<absl::Status(const std::vector<ir::TensorType>&, ir::Attrs&)> complete;
  std::string ir_op;  // The IR op; empty: `name` (sum is an alias of reduce_sum).

  const std::string& op() const { return ir_op.empty() ? name : ir_op; }
};

const std::vector<OpBuiltin>& OpBuiltins();
const OpBuiltin* FindOpBuiltin(const std::string& name);
Signature SignatureOf(const OpBuiltin& op);

// What a layer sees of the lowering in progress.
struct LayerCall {
  ir::GraphBuilder& builder;
  const Args& args;
  std::string name;  // Full instance name, "l1.fc": parameters are "<name>.weight".
  SourceLoc loc;     // The call; set it on the builder after evaluating tensor arguments.
  // Creates the parameter "<name>.<suffix>".
  std::function<absl::StatusOr<ir::NodeId>(const std::string& suffix, const ir::TensorType&,
                                           ir::Attrs init)>
      make_param;
  // Creates the non-trainable persistent tensor "<name>.<suffix>" (batch norm's running
  // statistics), every element starting at `initial_value`.
  std::function<absl::StatusOr<ir::NodeId>(const std::string& suffix, const ir::TensorType&,
                                           double initial_value)>
      make_state;
  NameResolver resolve;  // For names inside initializer arguments.
};

struct LayerDef {
  // The lowering appends a `name` parameter to every layer's signature.
  Signature signature;
  std::function<absl::StatusOr<ir::NodeId>(LayerCall&)> lower;
};

const std::vector<LayerDef>& Layers();
const LayerDef* FindLayer(const std::string& name);

}  // namespace kiln::frontend

#endif  // KILN_FRONTEND_BUILTINS_H_
