// Layers: calls that create their own parameters, named "<instance>.<weight|bias>".
#include "absl/strings/str_cat.h"
#include "frontend/builtins.h"
#include "frontend/initializers.h"
#include "support/status.h"

namespace kiln::frontend {
namespace {

// nn.Linear(in, out) applied to x [..., in]: weight [in, out] (kiln computes x @ W), bias [out].
absl::StatusOr<ir::NodeId> LowerLinear(LayerCall& call) {
  KILN_ASSIGN_OR_RETURN(ir::NodeId x, call.args.Tensor("x"));
  KILN_ASSIGN_OR_RETURN(int64_t out, call.args.Int("out_features", 0));
  KILN_ASSIGN_OR_RETURN(bool has_bias, call.args.Bool("bias", true));
  call.builder.set_loc(call.loc);
  const ir::TensorType& x_type = call.builder.type(x);
  if (x_type.rank() < 1) {
    return ErrorAt(call.loc, absl::StrCat("linear '", call.name, "': input must have at least one "
                                          "dim, got ", x_type.ToString()));
  }
  if (out <= 0) {
    return ErrorAt(call.args.Raw("out_features")->loc,
                   absl::StrCat("linear: out_features must be positive, got ", out));
  }
  int64_t in = x_type.shape.back();
  ir::Attrs weight_init = UniformFanIn(in);
  if (const Expr* init = call.args.Raw("init")) {
    KILN_ASSIGN_OR_RETURN(weight_init, InitAttrs(*init, Fans{true, in, out}, call.resolve));
  }
  KILN_ASSIGN_OR_RETURN(ir::NodeId weight,
                        call.make_param("weight", {ir::DType::kF32, {in, out}}, weight_init));
  std::vector<ir::NodeId> operands = {x, weight};
  if (has_bias) {
    ir::Attrs bias_init = UniformFanIn(in);
    if (const Expr* init = call.args.Raw("bias_init")) {
      KILN_ASSIGN_OR_RETURN(bias_init, InitAttrs(*init, Fans{}, call.resolve));
    }
    KILN_ASSIGN_OR_RETURN(ir::NodeId bias,
                          call.make_param("bias", {ir::DType::kF32, {out}}, bias_init));
    operands.push_back(bias);
  }
  call.builder.set_loc(call.loc);
  return call.builder.Op("linear", operands, {}, call.name);
}

}  // namespace

const std::vector<LayerDef>& Layers() {
  static const auto* table = new std::vector<LayerDef>{
      {{"linear",
        {{"x", true}, {"out_features", true}, {"bias"}, {"init"}, {"bias_init"}}},
       LowerLinear},
  };
  return *table;
}

const LayerDef* FindLayer(const std::string& name) {
  for (const LayerDef& layer : Layers()) {
    if (layer.signature.callee == name) return &layer;
  }
  return nullptr;
}

}  // namespace kiln::frontend
