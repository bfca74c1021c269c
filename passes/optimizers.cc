#include "passes/optimizers.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "ir/graph_builder.h"
#include "support/source_location.h"

namespace kiln::passes {
namespace {

using ir::GraphBuilder;
using ir::NodeId;

struct UpdateContext {
  GraphBuilder& b;
  const ir::OptimizerConfig& config;
  NodeId lr;
  NodeId step;       // Steps taken before this one (f32 scalar state).
  NodeId next_step;  // step + 1.
};

NodeId StateLike(GraphBuilder& b, NodeId param, const std::string& suffix) {
  const ir::Node& p = b.graph().node(param);
  return b.State(absl::StrCat(p.name, ".", suffix), p.type, 0.0);
}

void Assign(GraphBuilder& b, NodeId target, NodeId value) {
  b.graph().updates.push_back({target, value});
}

// torch.optim.SGD: g += wd*p; buf = g on the first step, else momentum*buf + (1-dampening)*g;
// g = g + momentum*buf (Nesterov) or buf; p -= lr*g.
void SgdUpdate(UpdateContext& c, NodeId param, NodeId grad) {
  GraphBuilder& b = c.b;
  double momentum = c.config.Get("momentum", 0.0);
  double dampening = c.config.Get("dampening", 0.0);
  double weight_decay = c.config.Get("weight_decay", 0.0);
  bool nesterov = c.config.Get("nesterov", 0.0) != 0.0;
  NodeId g = grad;
  if (weight_decay != 0.0) g = b.Add(g, b.Mul(param, b.Scalar(weight_decay)));
  if (momentum != 0.0) {
    NodeId buf = StateLike(b, param, "momentum_buffer");
    NodeId first = b.Equal(c.step, b.Scalar(0.0));
    NodeId blended = b.Add(b.Mul(buf, b.Scalar(momentum)), b.Mul(g, b.Scalar(1.0 - dampening)));
    NodeId new_buf = b.Select(first, g, blended);
    Assign(b, buf, new_buf);
    g = nesterov ? b.Add(g, b.Mul(new_buf, b.Scalar(momentum))) : new_buf;
  }
  Assign(b, param, b.Sub(param, b.Mul(g, c.lr)));
}

// torch.optim.Adam (amsgrad off): g += wd*p; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
// p -= (lr / (1-b1^t)) * m / (sqrt(v) / sqrt(1-b2^t) + eps).
void AdamUpdate(UpdateContext& c, NodeId param, NodeId grad, NodeId step_size,
                NodeId sqrt_bias_correction2) {
  GraphBuilder& b = c.b;
  double beta1 = c.config.Get("beta1", 0.9), beta2 = c.config.Get("beta2", 0.999);
  double eps = c.config.Get("eps", 1e-8), weight_decay = c.config.Get("weight_decay", 0.0);
  NodeId g = grad;
  if (weight_decay != 0.0) g = b.Add(g, b.Mul(param, b.Scalar(weight_decay)));
  NodeId m = StateLike(b, param, "exp_avg");
  NodeId v = StateLike(b, param, "exp_avg_sq");
  NodeId new_m = b.Add(b.Mul(m, b.Scalar(beta1)), b.Mul(g, b.Scalar(1.0 - beta1)));
  NodeId new_v = b.Add(b.Mul(v, b.Scalar(beta2)), b.Mul(b.Mul(g, g), b.Scalar(1.0 - beta2)));
  NodeId denom = b.Add(b.Div(b.Sqrt(new_v), sqrt_bias_correction2), b.Scalar(eps));
  Assign(b, m, new_m);
  Assign(b, v, new_v);
  Assign(b, param, b.Sub(param, b.Mul(step_size, b.Div(new_m, denom))));
}

// 1 - beta^t for Adam's bias corrections, accurate in float32. The direct form cancels: with
// beta2 = 0.999 rounded to float32, 1 - beta2^1 is 0.0009999871, 1.3e-5 off, which made every
// early Adam step 6.4e-6 too large relative to PyTorch (which computes it in double). Instead,
// 1 - beta^t = -expm1(t ln beta), with expm1 evaluated by Kahan's cancellation-free formula
//   expm1(y) = y                          if u = exp(y) rounds to 1,
//              (u - 1) * y / log(u)       otherwise
// whose rounding errors in u - 1 and log(u) cancel (Higham, Accuracy and Stability of Numerical
// Algorithms, 2nd ed., section 1.14.1). ln(beta) is a compile-time constant taken in double;
// y is clamped at -30 (where 1 - e^y is 1 in float32) so exp(y) never underflows to 0.
NodeId OneMinusPow(GraphBuilder& b, double beta, NodeId t) {
  if (beta == 0.0) return b.Scalar(1.0);  // t >= 1; log(0) would make the formula NaN.
  NodeId y = b.Maximum(b.Mul(t, b.Scalar(std::log(beta))), b.Scalar(-30.0));
  NodeId u = b.Exp(y);
  NodeId expm1 = b.Select(b.Equal(u, b.Scalar(1.0)), y,
                          b.Div(b.Mul(b.Sub(u, b.Scalar(1.0)), y), b.Log(u)));
  return b.Neg(expm1);
}

}  // namespace

absl::Status AppendOptimizerUpdates(ir::Graph& graph, const ir::OptimizerConfig& config,
                                    const std::vector<ir::NodeId>& params,
                                    const std::vector<ir::NodeId>& grads) {
  GraphBuilder b(graph);
  b.set_loc(config.loc);
  if (config.kind != "sgd" && config.kind != "adam") {
    return ErrorAt(config.loc, absl::StrCat("unknown optimizer '", config.kind, "'"));
  }
  NodeId lr = b.Input(kLearningRateInput, ir::TensorType{ir::DType::kF32, {}});
  NodeId step = b.State(absl::StrCat(config.kind, ".step"), ir::TensorType{ir::DType::kF32, {}});
  NodeId next_step = b.Add(step, b.Scalar(1.0));
  Assign(b, step, next_step);
  UpdateContext context{b, config, lr, step, next_step};

  if (config.kind == "sgd") {
    for (size_t i = 0; i < params.size(); ++i) SgdUpdate(context, params[i], grads[i]);
    return b.status();
  }
  // Bias corrections are scalars shared by every parameter's update.
  double beta1 = config.Get("beta1", 0.9), beta2 = config.Get("beta2", 0.999);
  NodeId bias_correction1 = OneMinusPow(b, beta1, next_step);
  NodeId bias_correction2 = OneMinusPow(b, beta2, next_step);
  NodeId step_size = b.Div(lr, bias_correction1);
  NodeId sqrt_bc2 = b.Sqrt(bias_correction2);
  for (size_t i = 0; i < params.size(); ++i) {
    AdamUpdate(context, params[i], grads[i], step_size, sqrt_bc2);
  }
  return b.status();
}

}  // namespace kiln::passes
