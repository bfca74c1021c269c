// Layers: calls that create their own parameters, named "<instance>.<weight|bias>".
#include <algorithm>
#include <optional>

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

// nn.BatchNorm1d / nn.BatchNorm2d over dim 1 of x: `ranks` lists the input ranks the layer takes.
// weight (ones) and bias (zeros) are trainable; running_mean (zeros) and running_var (ones) are
// persistent state that only the training step's batch_norm updates write.
absl::StatusOr<ir::NodeId> LowerBatchNorm(LayerCall& call, std::vector<int64_t> ranks,
                                          const char* expected) {
  KILN_ASSIGN_OR_RETURN(ir::NodeId x, call.args.Tensor("x"));
  KILN_ASSIGN_OR_RETURN(int64_t num_features, call.args.Int("num_features", 0));
  KILN_ASSIGN_OR_RETURN(double momentum, call.args.Number("momentum", 0.1));
  KILN_ASSIGN_OR_RETURN(double eps, call.args.Number("eps", 1e-5));
  const ir::TensorType& x_type = call.builder.type(x);
  const std::string layer = call.args.callee();
  if (x_type.dtype != ir::DType::kF32 ||
      std::find(ranks.begin(), ranks.end(), x_type.rank()) == ranks.end()) {
    return ErrorAt(call.loc, absl::StrCat(layer, " '", call.name, "': expects an f32 input ",
                                          expected, ", got ", x_type.ToString()));
  }
  const int64_t channels = x_type.shape[1];
  if (call.args.Has("num_features") && num_features != channels) {
    return ErrorAt(call.args.Raw("num_features")->loc,
                   absl::StrCat(layer, ": num_features is ", num_features, " but input ",
                                x_type.ToString(), " has ", channels, " channels (dim 1)"));
  }
  const ir::TensorType per_channel{ir::DType::kF32, {channels}};
  KILN_ASSIGN_OR_RETURN(ir::NodeId weight,
                        call.make_param("weight", per_channel, ConstantInit(1.0)));
  KILN_ASSIGN_OR_RETURN(ir::NodeId bias, call.make_param("bias", per_channel, ConstantInit(0.0)));
  KILN_ASSIGN_OR_RETURN(ir::NodeId running_mean, call.make_state("running_mean", per_channel, 0.0));
  KILN_ASSIGN_OR_RETURN(ir::NodeId running_var, call.make_state("running_var", per_channel, 1.0));
  call.builder.set_loc(call.loc);
  return call.builder.Op("batch_norm", {x, weight, bias, running_mean, running_var},
                         {{"momentum", momentum}, {"eps", eps}}, call.name);
}

absl::StatusOr<ir::NodeId> LowerBatchNorm1d(LayerCall& call) {
  return LowerBatchNorm(call, {2, 3}, "[N, C] or [N, C, L]");
}

absl::StatusOr<ir::NodeId> LowerBatchNorm2d(LayerCall& call) {
  return LowerBatchNorm(call, {4}, "[N, C, H, W]");
}

// nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias)
// applied to x [N, C, H, W]: weight [out, in/groups, KH, KW] and bias [out], both initialized
// as PyTorch does (kaiming uniform a=sqrt(5) and uniform(+-1/sqrt(fan_in)), fan_in =
// in/groups * KH * KW). A wrong in_channels is reported by the conv2d op, naming both shapes.
absl::StatusOr<ir::NodeId> LowerConv2d(LayerCall& call) {
  KILN_ASSIGN_OR_RETURN(ir::NodeId x, call.args.Tensor("x"));
  KILN_ASSIGN_OR_RETURN(int64_t in, call.args.Int("in_channels", 0));
  KILN_ASSIGN_OR_RETURN(int64_t out, call.args.Int("out_channels", 0));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> kernel, call.args.Ints("kernel_size"));
  KILN_ASSIGN_OR_RETURN(int64_t groups, call.args.Int("groups", 1));
  KILN_ASSIGN_OR_RETURN(bool has_bias, call.args.Bool("bias", true));
  if (kernel.size() == 1) kernel.push_back(kernel[0]);
  if (in <= 0 || out <= 0 || groups <= 0 || in % groups != 0 || out % groups != 0 ||
      kernel.size() != 2 || kernel[0] <= 0 || kernel[1] <= 0) {
    return ErrorAt(call.loc, absl::StrCat("conv2d '", call.name, "': in_channels (", in,
                                          ") and out_channels (", out,
                                          ") must be positive multiples of groups (", groups,
                                          ") and kernel_size one or two positive integers"));
  }
  ir::Attrs attrs;
  attrs.Set("groups", groups);
  for (const char* key : {"stride", "padding", "dilation"}) {
    if (call.args.Has(key)) {
      KILN_ASSIGN_OR_RETURN(std::vector<int64_t> v, call.args.Ints(key));
      attrs.Set(key, v);
    }
  }
  ir::Shape weight_shape = {out, in / groups, kernel[0], kernel[1]};
  Fans fans = FansOf(weight_shape);
  ir::Attrs weight_init = UniformFanIn(fans.in);
  if (const Expr* init = call.args.Raw("init")) {
    KILN_ASSIGN_OR_RETURN(weight_init, InitAttrs(*init, fans, call.resolve));
  }
  KILN_ASSIGN_OR_RETURN(ir::NodeId weight,
                        call.make_param("weight", {ir::DType::kF32, weight_shape}, weight_init));
  std::vector<ir::NodeId> operands = {x, weight};
  if (has_bias) {
    ir::Attrs bias_init = UniformFanIn(fans.in);
    if (const Expr* init = call.args.Raw("bias_init")) {
      KILN_ASSIGN_OR_RETURN(bias_init, InitAttrs(*init, Fans{}, call.resolve));
    }
    KILN_ASSIGN_OR_RETURN(ir::NodeId bias,
                          call.make_param("bias", {ir::DType::kF32, {out}}, bias_init));
    operands.push_back(bias);
  }
  call.builder.set_loc(call.loc);
  return call.builder.Op("conv2d", operands, attrs, call.name);
}

// nn.RNN(input_size, hidden_size, batch_first=True) applied to x [B, T, I]: weight_ih_l0 [H, I],
// weight_hh_l0 [H, H], bias_ih_l0 and bias_hh_l0 [H] (PyTorch's names and layouts, so imported
// weights map one to one), all U(+-1/sqrt(H)) as PyTorch initializes them. Gives the output
// sequence [B, T, H]; an optional h0 [B, H] is the initial state (zero otherwise).
absl::StatusOr<ir::NodeId> LowerRnn(LayerCall& call) {
  KILN_ASSIGN_OR_RETURN(ir::NodeId x, call.args.Tensor("x"));
  KILN_ASSIGN_OR_RETURN(int64_t hidden, call.args.Int("hidden_size", 0));
  KILN_ASSIGN_OR_RETURN(bool has_bias, call.args.Bool("bias", true));
  std::optional<ir::NodeId> h0;
  if (call.args.Has("h0")) {
    KILN_ASSIGN_OR_RETURN(h0, call.args.Tensor("h0"));
  }
  const ir::TensorType& x_type = call.builder.type(x);
  if (x_type.rank() != 3) {
    return ErrorAt(call.loc, absl::StrCat("rnn '", call.name, "': input must be [batch, time, "
                                          "features], got ", x_type.ToString()));
  }
  if (hidden <= 0) {
    return ErrorAt(call.args.Raw("hidden_size")->loc,
                   absl::StrCat("rnn: hidden_size must be positive, got ", hidden));
  }
  const int64_t features = x_type.shape[2];
  const ir::Attrs init = UniformFanIn(hidden);
  KILN_ASSIGN_OR_RETURN(ir::NodeId weight_ih,
                        call.make_param("weight_ih_l0", {ir::DType::kF32, {hidden, features}}, init));
  KILN_ASSIGN_OR_RETURN(ir::NodeId weight_hh,
                        call.make_param("weight_hh_l0", {ir::DType::kF32, {hidden, hidden}}, init));
  std::vector<ir::NodeId> operands = {x, weight_ih, weight_hh};
  if (has_bias) {
    for (const char* bias : {"bias_ih_l0", "bias_hh_l0"}) {
      KILN_ASSIGN_OR_RETURN(ir::NodeId node,
                            call.make_param(bias, {ir::DType::kF32, {hidden}}, init));
      operands.push_back(node);
    }
  }
  if (h0) operands.push_back(*h0);
  call.builder.set_loc(call.loc);
  return call.builder.Op("rnn", operands,
                         {{"bias", int64_t{has_bias}}, {"h0", int64_t{h0.has_value()}}}, call.name);
}

}  // namespace

const std::vector<LayerDef>& Layers() {
  static const auto* table = new std::vector<LayerDef>{
      {{"linear",
        {{"x", true}, {"out_features", true}, {"bias"}, {"init"}, {"bias_init"}}},
       LowerLinear},
      {{"batch_norm1d", {{"x", true}, {"num_features"}, {"momentum"}, {"eps"}}},
       LowerBatchNorm1d},
      {{"batch_norm2d", {{"x", true}, {"num_features"}, {"momentum"}, {"eps"}}},
       LowerBatchNorm2d},
      {{"conv2d",
        {{"x", true},
         {"in_channels", true},
         {"out_channels", true},
         {"kernel_size", true},
         {"stride"},
         {"padding"},
         {"dilation"},
         {"groups"},
         {"bias"},
         {"init"},
         {"bias_init"}}},
       LowerConv2d},
      {{"rnn", {{"x", true}, {"hidden_size", true}, {"h0"}, {"bias"}}}, LowerRnn},
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
